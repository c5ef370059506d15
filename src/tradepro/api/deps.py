"""Request dependencies: the shared context and the signed-in user."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPBearer
from sqlalchemy.exc import SQLAlchemyError
from starlette.requests import HTTPConnection

from tradepro.api.context import ApiContext
from tradepro.api.errors import ApiError
from tradepro.api.ratelimit import enforce
from tradepro.security.api_keys import TRADE, is_api_key
from tradepro.security.origin import CROSS_SITE, CROSS_SITE_MESSAGE, UNSAFE_METHODS, from_own_page
from tradepro.security.tokens import InvalidTokenError


async def get_context(request: Request) -> ApiContext:
    context: ApiContext = request.app.state.context
    return context


Context = Annotated[ApiContext, Depends(get_context)]


@dataclass(frozen=True)
class SessionUser:
    id: str
    email: str
    key_id: str | None = None
    """The API key the request came with; None for a session."""


async def limit_orders(context: ApiContext, user: SessionUser) -> None:
    """Count an order action (placing, closing, modifying, cancelling, amending, resetting,
    depositing): ``ORDER_LIMIT_PER_S`` per account, the terminal and every API key
    together, and ``KEY_ORDER_LIMIT_PER_S`` per key; 429 ``rate_limited`` beyond either."""
    settings, limiter = context.settings, context.order_limiter
    if user.key_id is not None:
        limit = settings.key_order_limit_per_s
        await enforce(limiter, f"key:{user.key_id}", limit, 1, "orders with this API key")
    await enforce(limiter, user.id, settings.order_limit_per_s, 1, "orders on this account")


async def limit_reads(context: ApiContext, user: SessionUser) -> None:
    """Count a read served by the engine or the database: ``READ_LIMIT_PER_S`` per
    account (all its callers together) and ``KEY_READ_LIMIT_PER_S`` per API key."""
    if user.key_id is not None:
        await context.key_reads.enforce(f"key:{user.key_id}", "with this API key")
    await context.reads.enforce(user.id, "on this account")


class SessionAuth(HTTPBearer):
    """The caller, from ``Authorization: Bearer`` (a session JWT or an API key, ``tpk_``)
    or the ``token`` cookie; 401 otherwise.

    One dependency that is also the OpenAPI security scheme (``HTTPBearer``): every
    sub-dependency costs FastAPI's resolver a few percent of a request's CPU, and this
    runs on every trading request. A write authenticated by the cookie must come from one
    of our own pages (``tradepro.security.origin``), else 403 ``cross_site``.
    """

    async def __call__(self, request: Request) -> SessionUser:  # type: ignore[override]
        credentials = await super().__call__(request)
        if credentials is not None:
            if is_api_key(credentials.credentials):
                return await key_user(request, credentials.credentials)
            return session_user(request.app.state.context, credentials.credentials)
        token = request.cookies.get("token")
        if not token:
            raise ApiError(401, "unauthorized", "sign in first: no session token")
        require_own_page(request)
        return session_user(request.app.state.context, token)


def require_own_page(request: HTTPConnection) -> None:
    """403 ``cross_site`` for a write that another site's page may have made (a request
    authenticated by the cookie, which the browser attaches whoever asks)."""
    scope = request.scope
    if scope.get("method") in UNSAFE_METHODS and not from_own_page(
        scope["headers"], request.app.state.context.public_origins
    ):
        raise ApiError(403, CROSS_SITE, CROSS_SITE_MESSAGE)


def session_user(context: ApiContext, token: str) -> SessionUser:
    """The user a session token names; ``ApiError`` 401 if it is invalid or expired."""
    try:
        claims = context.sessions.verify(token)
    except InvalidTokenError:
        raise ApiError(401, "unauthorized", "the session token is invalid or expired") from None
    return SessionUser(claims.user_id, claims.email)


async def key_user(request: Request, key: str) -> SessionUser:
    """The user an API key acts for; 401 for an unknown or revoked key, 403
    ``insufficient_scope`` for a write with a ``read`` key."""
    context: ApiContext = request.app.state.context
    try:
        claims = await context.api_keys.verify(key)
    except InvalidTokenError:
        raise ApiError(401, "unauthorized", "the API key is unknown or revoked") from None
    except (SQLAlchemyError, OSError):
        raise ApiError(503, "unavailable", KEY_UNCHECKED) from None
    if request.method not in READ_METHODS and TRADE not in claims.scopes:
        raise ApiError(403, "insufficient_scope", READ_ONLY_KEY)
    return SessionUser(claims.user_id, claims.email, claims.key_id)


KEY_UNCHECKED = "the API key could not be checked now (the database is unavailable); try again"
READ_ONLY_KEY = (
    "this API key may only read (scope read): make a key with the scopes read and trade "
    "to place or close orders"
)
READ_METHODS = frozenset({"GET", "HEAD"})


current_user = SessionAuth(
    auto_error=False,
    scheme_name="HTTPBearer",
    description="The session JWT (or the `token` cookie), or an API key (`tpk_...`).",
)


CurrentUser = Annotated[SessionUser, Depends(current_user)]
"""The caller, by session or by API key."""


async def signed_in_person(user: CurrentUser) -> SessionUser:
    """The caller by session only: 403 ``session_required`` for an API key (a key may
    never manage keys, nor reach what only the person should)."""
    if user.key_id is not None:
        raise ApiError(403, "session_required", KEY_NOT_ALLOWED)
    return user


KEY_NOT_ALLOWED = "an API key cannot do this: sign in (session) to manage API keys or the account"

SessionOnlyUser = Annotated[SessionUser, Depends(signed_in_person)]
