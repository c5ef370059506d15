"""Request dependencies: the shared context and the signed-in user."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPBearer
from starlette.requests import HTTPConnection

from tradepro.api.context import ApiContext
from tradepro.api.errors import ApiError
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


class SessionAuth(HTTPBearer):
    """The caller, from ``Authorization: Bearer`` or the ``token`` cookie; 401 otherwise.

    One dependency that is also the OpenAPI security scheme (``HTTPBearer``): every
    sub-dependency costs FastAPI's resolver a few percent of a request's CPU, and this
    runs on every trading request. A write authenticated by the cookie must come from one
    of our own pages (``tradepro.security.origin``), else 403 ``cross_site``.
    """

    async def __call__(self, request: Request) -> SessionUser:  # type: ignore[override]
        credentials = await super().__call__(request)
        if credentials is not None:
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


current_user = SessionAuth(
    auto_error=False,
    scheme_name="HTTPBearer",
    description="The session JWT (or the `token` cookie).",
)


CurrentUser = Annotated[SessionUser, Depends(current_user)]
