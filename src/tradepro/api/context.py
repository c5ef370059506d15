"""What the API's routes share: settings, the bus requester, the database, limits, mail."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from tradepro.api.errors import ENGINE_STATUSES, ApiError
from tradepro.api.mail import Mailer
from tradepro.api.ratelimit import MemoryRateLimiter, RateLimiter
from tradepro.api.readlimit import ReadLimiter
from tradepro.api.recent import RecentCloses
from tradepro.api.security import SessionVerifier
from tradepro.bus.base import Bus
from tradepro.bus.requests import Requester
from tradepro.config import Settings

log = logging.getLogger("tradepro.api")


@dataclass
class ApiContext:
    settings: Settings
    bus: Bus
    requester: Requester
    database: AsyncEngine
    limiter: RateLimiter
    """Sign-ups: shared by every API process when Redis is used."""
    mailer: Mailer
    order_limiter: RateLimiter = field(default_factory=MemoryRateLimiter)
    """Order placement: per API process (see ``tradepro.api.ratelimit``)."""
    idempotency: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    sessions: SessionVerifier = field(init=False)
    reads: ReadLimiter = field(init=False)
    """Reads per user: per API process (see ``tradepro.api.readlimit``)."""
    recent_closes: RecentCloses = field(default_factory=RecentCloses)
    """Trades closed moments ago (their rows may be a few milliseconds behind)."""

    def __post_init__(self) -> None:
        self.sessions = SessionVerifier(self.settings.jwt_secret)
        self.reads = ReadLimiter(self.settings.read_limit_per_s, self.settings.read_burst)
        self.requester.subscribe(self.recent_closes.see)

    async def engine(
        self, kind: str, payload: dict[str, Any], request_id: str | None = None
    ) -> dict[str, Any]:
        """Ask the engine; a rejection becomes an ``ApiError`` with its status."""
        reply = await self.requester.send_request_and_wait(kind, payload, request_id=request_id)
        status = reply.get("status")
        if status in ENGINE_STATUSES:
            raise ApiError(
                ENGINE_STATUSES[str(status)], str(status), str(reply.get("message", status))
            )
        return reply
