"""Sign-in by e-mailed link: sign up, verify the link, sign out, and a protected test."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import parse_qs, quote

import aiosmtplib
from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse

from tradepro.api.deps import Context, CurrentUser, require_own_page
from tradepro.api.errors import ApiError
from tradepro.api.ratelimit import enforce
from tradepro.api.schemas import ErrorOut, SessionOut, SignupIn, SignupOut, UserOut
from tradepro.api.sessions import end_session
from tradepro.api.signin_page import confirmation_page
from tradepro.db.queries.sign_in import consume_link, link_usable, record_link, user_id_for_email
from tradepro.protocol.kinds import Kind
from tradepro.protocol.replies import Registered
from tradepro.security.api_keys import is_api_key
from tradepro.security.origin import CROSS_SITE, CROSS_SITE_MESSAGE, from_own_page
from tradepro.security.tokens import (
    LINK,
    LINK_TTL_S,
    SESSION,
    SESSION_TTL_S,
    InvalidTokenError,
)
from tradepro.security.tokens import issue as issue_token
from tradepro.security.tokens import verify as verify_token

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])
KEY_IS_NOT_A_SESSION = (
    "an API key is not a session: revoke it with DELETE /api/v1/auth/api-keys/{id}, signed in"
)
USED_OR_EXPIRED = "this sign-in link was already used or expired"
MAX_FORM_BYTES = 4096
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
    user_id = await user_id_for_email(context.database, email)
    # Idempotent: a known user is not credited twice.
    await context.ask_engine(Kind.REGISTER_USER, {"userId": user_id}, Registered)
    token, claims = issue_token(context.settings.jwt_secret, LINK, user_id, email, LINK_TTL_S)
    expires_at = datetime.fromtimestamp(claims.expires_at, UTC)
    await record_link(context.database, claims.token_id, user_id, expires_at)
    link = f"{context.settings.public_url.rstrip('/')}/api/v1/auth/signin/verify?token={token}"
    try:
        await context.mailer.send_sign_in_link(email, link)
    except (aiosmtplib.SMTPException, OSError):
        raise ApiError(
            503, "mail_unavailable", "the sign-in e-mail could not be sent now"
        ) from None
    return {"message": "check your e-mail for a sign-in link (valid 15 minutes)"}


@router.get("/signin/verify", response_model=SessionOut, responses=ERRORS | {303: {}})
async def verify_link(
    request: Request, context: Context, token: Annotated[str, Query(max_length=2048)]
) -> Response:
    """API clients (`Accept: application/json`): consume the link, get `{token, user}`
    (no cookie). Browsers: a page asking to confirm the account; its button signs in."""
    wants_json = "application/json" in request.headers.get("accept", "")
    try:
        claims = verify_token(context.settings.jwt_secret, token, LINK)
    except InvalidTokenError:
        return _link_refused(wants_json, "this sign-in link is invalid or expired")
    if wants_json:
        if not await consume_link(context.database, claims.token_id, claims.user_id):
            return _link_refused(wants_json, USED_OR_EXPIRED)
        session, _ = issue_token(
            context.settings.jwt_secret, SESSION, claims.user_id, claims.email, SESSION_TTL_S
        )
        return JSONResponse(
            {"token": session, "user": {"id": claims.user_id, "email": claims.email}}
        )
    if not await link_usable(context.database, claims.token_id, claims.user_id):
        return _link_refused(wants_json, USED_OR_EXPIRED)
    return confirmation_page(claims.email, token)


_CONFIRM_FORM = {
    "requestBody": {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {
                    "type": "object",
                    "properties": {"token": {"type": "string", "maxLength": 2048}},
                    "required": ["token"],
                }
            }
        },
    }
}


@router.post(
    "/signin/verify",
    responses=ERRORS | {303: {}, 403: {"model": ErrorOut}},
    openapi_extra=_CONFIRM_FORM,
)
async def confirm_link(request: Request, context: Context) -> Response:
    """The confirmation page's button (a form with the link's `token`): consume the link,
    set the session cookie and go to the UI. Only from that page itself (else 403)."""
    if not from_own_page(request.scope["headers"], context.public_origins):
        raise ApiError(403, CROSS_SITE, CROSS_SITE_MESSAGE)
    token = _form_token(await request.body())
    try:
        claims = verify_token(context.settings.jwt_secret, token, LINK)
    except InvalidTokenError:
        return _link_refused(False, "this sign-in link is invalid or expired")
    if not await consume_link(context.database, claims.token_id, claims.user_id):
        return _link_refused(False, USED_OR_EXPIRED)
    secret, settings = context.settings.jwt_secret, context.settings
    session, _ = issue_token(secret, SESSION, claims.user_id, claims.email, SESSION_TTL_S)
    response = RedirectResponse("/", status_code=303)
    response.set_cookie(
        "token",
        session,
        max_age=SESSION_TTL_S,
        httponly=True,
        samesite="lax",
        secure=settings.session_cookie_secure,
    )
    return response


def _form_token(body: bytes) -> str:
    """The ``token`` field of a urlencoded form ("" when absent or malformed)."""
    if len(body) > MAX_FORM_BYTES:
        return ""
    try:
        fields = parse_qs(body.decode("ascii"), max_num_fields=4)
    except (UnicodeDecodeError, ValueError):
        return ""
    values = fields.get("token", [])
    return values[0] if len(values) == 1 else ""


def _link_refused(wants_json: bool, message: str) -> Response:
    """401 for API clients; a browser goes back to the sign-in page, which says why."""
    if wants_json:
        raise ApiError(401, "invalid_link", message)
    return RedirectResponse(f"/?signin_error={quote(message)}", status_code=303)


@router.post("/signout", responses=ERRORS | {403: {"model": ErrorOut}})
async def signout(request: Request, context: Context) -> Response:
    """End the session: its token is refused from now on by every API and WebSocket
    process, its live connections are closed, and the cookie is cleared."""
    token, by_cookie = _offered_token(request)
    if by_cookie:
        require_own_page(request)
    elif token is not None and is_api_key(token):
        raise ApiError(403, "session_required", KEY_IS_NOT_A_SESSION)
    try:
        claims = verify_token(context.settings.jwt_secret, token, SESSION) if token else None
    except InvalidTokenError:
        claims = None  # nothing to end: only the cookie to clear
    if claims is not None:
        await end_session(context, claims)
    response = JSONResponse({"message": "signed out"})
    response.delete_cookie(
        "token", httponly=True, samesite="lax", secure=context.settings.session_cookie_secure
    )
    return response


def _offered_token(request: Request) -> tuple[str | None, bool]:
    """The session token sent, and whether it came by cookie (not by ``Authorization``)."""
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip(), False
    cookie = request.cookies.get("token")
    return (cookie, True) if cookie else (None, False)


@router.get("/protected-route-test", response_model=UserOut, responses=ERRORS)
async def protected_route_test(user: CurrentUser) -> dict[str, str]:
    """Who you are, if your session is valid."""
    return {"id": user.id, "email": user.email}
