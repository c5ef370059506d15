"""Request dependencies: the shared context and the signed-in user."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPBearer

from tradepro.api.context import ApiContext
from tradepro.api.errors import ApiError
from tradepro.api.security import InvalidTokenError


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
    runs on every trading request.
    """

    async def __call__(self, request: Request) -> SessionUser:  # type: ignore[override]
        credentials = await super().__call__(request)
        token = credentials.credentials if credentials is not None else request.cookies.get("token")
        if not token:
            raise ApiError(401, "unauthorized", "sign in first: no session token")
        return session_user(request.app.state.context, token)


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
