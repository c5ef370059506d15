"""Request dependencies: the shared context and the signed-in user."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from tradepro.api.context import ApiContext
from tradepro.api.errors import ApiError
from tradepro.api.security import SESSION, InvalidTokenError, verify

_bearer = HTTPBearer(auto_error=False, description="The session JWT (or the `token` cookie).")


async def get_context(request: Request) -> ApiContext:
    context: ApiContext = request.app.state.context
    return context


Context = Annotated[ApiContext, Depends(get_context)]


@dataclass(frozen=True)
class SessionUser:
    id: str
    email: str


async def current_user(
    request: Request,
    context: Context,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> SessionUser:
    """The caller, from ``Authorization: Bearer`` or the ``token`` cookie; 401 otherwise."""
    token = credentials.credentials if credentials is not None else request.cookies.get("token")
    if not token:
        raise ApiError(401, "unauthorized", "sign in first: no session token")
    try:
        claims = verify(context.settings.jwt_secret, token, SESSION)
    except InvalidTokenError:
        raise ApiError(401, "unauthorized", "the session token is invalid or expired") from None
    return SessionUser(claims.user_id, claims.email)


CurrentUser = Annotated[SessionUser, Depends(current_user)]
