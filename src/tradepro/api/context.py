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
from tradepro.db.idempotency import IdempotencyStore

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
    idempotency: IdempotencyStore = field(init=False)
    """Create-order's ``Idempotency-Key``s, in the database (shared by every API process)."""
    sessions: SessionVerifier = field(init=False)
    """Session tokens checked once per process, and the signed-out ones refused."""
    public_origins: frozenset[str] = field(init=False)
    """Where our own pages come from: cookie-authenticated writes must (``api.origin``)."""
    reads: ReadLimiter = field(init=False)
    """Reads per user: per API process (see ``tradepro.api.readlimit``)."""
    recent_closes: RecentCloses = field(default_factory=RecentCloses)
    """Trades closed moments ago (their rows may be a few milliseconds behind)."""

    def __post_init__(self) -> None:
        self.sessions = SessionVerifier(self.settings.jwt_secret)
        self.idempotency = IdempotencyStore(self.database)
        self.public_origins = self.settings.public_origins
        self.reads = ReadLimiter(self.settings.read_limit_per_s, self.settings.read_burst)
        self.requester.subscribe(self.recent_closes.see)
        self.requester.subscribe(self.sessions.revoked.see)

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
