"""What the API's routes share: settings, the bus requester, the database, limits, mail."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine

from tradepro.api.errors import ENGINE_STATUSES, ApiError
from tradepro.api.mail import Mailer
from tradepro.api.ratelimit import RateLimiter
from tradepro.api.readlimit import ReadLimits
from tradepro.api.recent import RecentCloses
from tradepro.bus.base import Bus
from tradepro.bus.requests import Requester
from tradepro.config import Settings
from tradepro.db.api_keys import key_by_digest, record_use
from tradepro.db.idempotency import IdempotencyStore
from tradepro.protocol.kinds import Kind, Status
from tradepro.protocol.replies import ReplyView, rejection_in
from tradepro.security.api_keys import ApiKeyVerifier
from tradepro.security.tokens import SessionVerifier

log = logging.getLogger("tradepro.api")

Reply = TypeVar("Reply", bound=ReplyView)


@dataclass
class ApiContext:
    settings: Settings
    bus: Bus
    requester: Requester
    database: AsyncEngine
    limiter: RateLimiter
    """Sign-ups: shared by every API process when Redis is used."""
    mailer: Mailer
    order_limiter: RateLimiter
    """Order placement: shared by every API process when Redis is used
    (``tradepro.api.ratelimit``)."""
    reads: ReadLimits
    """Reads per account: shared by every API process when Redis is used
    (``tradepro.api.readlimit``)."""
    key_reads: ReadLimits
    """Reads per API key, counted in ``reads`` too."""
    idempotency: IdempotencyStore = field(init=False)
    """Create-order's ``Idempotency-Key``s, in the database (shared by every API process)."""
    sessions: SessionVerifier = field(init=False)
    """Session tokens checked once per process, and the signed-out ones refused."""
    public_origins: frozenset[str] = field(init=False)
    """Where our own pages come from: cookie-authenticated writes must (``security.origin``)."""
    recent_closes: RecentCloses = field(default_factory=RecentCloses)
    """Trades closed moments ago (their rows may be a few milliseconds behind)."""
    api_keys: ApiKeyVerifier = field(init=False)
    """API keys looked up once a minute, revoked ones refused at once (with the sessions)."""

    def __post_init__(self) -> None:
        self.sessions = SessionVerifier(self.settings.jwt_secret)
        self.idempotency = IdempotencyStore(self.database)
        self.public_origins = self.settings.public_origins
        self.requester.subscribe(self.recent_closes.see, {Status.CLOSED})
        self.requester.subscribe(self.sessions.revoked.see, {Status.SESSION_ENDED})
        self.api_keys = ApiKeyVerifier(
            partial(key_by_digest, self.database),
            partial(record_use, self.database),
            self.sessions.revoked,
        )

    async def ask_engine(
        self,
        kind: Kind,
        payload: Mapping[str, object],
        reply: type[Reply],
        *,
        request_id: str | None = None,
    ) -> Reply:
        """Ask the engine over the bus and read its answer as ``reply``; a rejection
        becomes an ``ApiError`` with its status."""
        body = await self.requester.send_request_and_wait(kind, payload, request_id=request_id)
        rejected = rejection_in(body)
        if rejected is not None:
            raise ApiError(ENGINE_STATUSES[rejected.error], rejected.error, rejected.message)
        return reply.from_body(body)
