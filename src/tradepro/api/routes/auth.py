"""Sign-in by e-mailed link: sign up, verify the link, sign out, and a protected test."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import quote

import aiosmtplib
from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse
from sqlalchemy import insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from tradepro.api.deps import Context, CurrentUser
from tradepro.api.errors import ApiError
from tradepro.api.ratelimit import enforce
from tradepro.api.schemas import ErrorOut, SessionOut, SignupIn, SignupOut, UserOut
from tradepro.api.security import LINK, LINK_TTL_S, SESSION, SESSION_TTL_S, InvalidTokenError
from tradepro.api.security import issue as issue_token
from tradepro.api.security import verify as verify_token
from tradepro.db.models import SignInLink, User

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut} for code in (400, 401, 422, 429, 503, 504)
}


@router.post("/signup", response_model=SignupOut, responses=ERRORS)
async def signup(body: SignupIn, request: Request, context: Context) -> dict[str, str]:
    """Create the user if new and e-mail a single-use sign-in link (valid 15 minutes)."""
    email = body.email.strip().lower()
    address = request.client.host if request.client else "unknown"
    limiter, settings = context.limiter, context.settings
    per_email = settings.signup_limit_per_email_per_hour
    per_address = settings.signup_limit_per_address_per_hour
    await enforce(limiter, f"signup-email:{email}", per_email, 3600, "sign-ups")
    await enforce(limiter, f"signup-ip:{address}", per_address, 3600, "sign-ups")
    user_id = await _user_for(context, email)
    await context.engine("register-user", {"userId": user_id})  # idempotent: no double deposit
    token, claims = issue_token(context.settings.jwt_secret, LINK, user_id, email, LINK_TTL_S)
    async with context.database.begin() as connection:
        await connection.execute(
            insert(SignInLink).values(
                id=claims.token_id,
                user_id=user_id,
                expires_at=datetime.fromtimestamp(claims.expires_at, UTC),
            )
        )
    link = f"{context.settings.public_url.rstrip('/')}/api/v1/auth/signin/verify?token={token}"
    try:
        await context.mailer.send_sign_in_link(email, link)
    except (aiosmtplib.SMTPException, OSError):
        raise ApiError(
            503, "mail_unavailable", "the sign-in e-mail could not be sent now"
        ) from None
    return {"message": "check your e-mail for a sign-in link (valid 15 minutes)"}


async def _user_for(context: Context, email: str) -> str:
    """The user's id, creating the user if new. The insert comes first, so on SQLite the
    transaction takes the write lock at once (waiting ``busy_timeout``) instead of failing
    to upgrade a read snapshot that the engine's commits made stale."""
    dialect = postgresql if context.database.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(User).values(id=str(uuid.uuid4()), email=email)
    async with context.database.begin() as connection:
        await connection.execute(statement.on_conflict_do_nothing(index_elements=["email"]))
        found = await connection.execute(select(User.id).where(User.email == email))
        return str(found.scalar_one())


@router.get("/signin/verify", response_model=SessionOut, responses=ERRORS | {303: {}})
async def verify_link(
    request: Request, context: Context, token: Annotated[str, Query(max_length=2048)]
) -> Response:
    """Consume the link, start a session (cookie `token`; JSON for API clients)."""
    secret = context.settings.jwt_secret
    wants_json = "application/json" in request.headers.get("accept", "")
    try:
        claims = verify_token(secret, token, LINK)
    except InvalidTokenError:
        message = "this sign-in link is invalid or expired"
        return _link_refused(wants_json, message)
    now = datetime.now(UTC)
    async with context.database.begin() as connection:
        consumed = await connection.execute(
            update(SignInLink)
            .where(SignInLink.id == claims.token_id, SignInLink.used_at.is_(None))
            .where(SignInLink.expires_at > now, SignInLink.user_id == claims.user_id)
            .values(used_at=now)
        )
        if consumed.rowcount == 1:
            await connection.execute(
                update(User).where(User.id == claims.user_id).values(last_logged_in=now)
            )
    if consumed.rowcount != 1:
        return _link_refused(wants_json, "this sign-in link was already used or expired")
    session, _ = issue_token(secret, SESSION, claims.user_id, claims.email, SESSION_TTL_S)
    response: Response
    if wants_json:
        body = {"token": session, "user": {"id": claims.user_id, "email": claims.email}}
        response = JSONResponse(body)
    else:
        response = RedirectResponse("/", status_code=303)
    response.set_cookie(
        "token",
        session,
        max_age=SESSION_TTL_S,
        httponly=True,
        samesite="lax",
        secure=context.settings.public_url.startswith("https://"),
    )
    return response


def _link_refused(wants_json: bool, message: str) -> Response:
    """401 for API clients; a browser goes back to the sign-in page, which says why."""
    if wants_json:
        raise ApiError(401, "invalid_link", message)
    return RedirectResponse(f"/?signin_error={quote(message)}", status_code=303)


@router.post("/signout", responses=ERRORS)
async def signout() -> Response:
    """End the browser session (clears the cookie)."""
    response = JSONResponse({"message": "signed out"})
    response.delete_cookie("token", httponly=True, samesite="lax")
    return response


@router.get("/protected-route-test", response_model=UserOut, responses=ERRORS)
async def protected_route_test(user: CurrentUser) -> dict[str, str]:
    """Who you are, if your session is valid."""
    return {"id": user.id, "email": user.email}
