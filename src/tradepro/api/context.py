"""What the API's routes share: settings, the bus requester, the database, limits, mail."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from tradepro.api.errors import ENGINE_STATUSES, ApiError
from tradepro.api.mail import Mailer
from tradepro.api.ratelimit import RateLimiter
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
    mailer: Mailer
    idempotency: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)

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
