"""Who a WebSocket client is: the handshake token and its verification."""

from __future__ import annotations

import base64
import time

import jwt
import orjson
import pytest
from websockets.datastructures import Headers

from tradepro.security.tokens import LINK, SESSION, issue
from tradepro.services.ws.auth import InvalidTokenError, handshake_token, verify_session

SECRET = "unit-test-jwt-secret-0123456789abcdef0123456789"  # noqa: S105 (a test secret)
USER = "9b2f8a7e-0c1d-4e5f-8a9b-0c1d2e3f4a5b"


def headers(*pairs: tuple[str, str]) -> Headers:
    return Headers(list(pairs))


def test_no_token_anywhere_is_none() -> None:
    assert handshake_token("/", headers()) is None
    assert handshake_token("/?other=1&token=", headers(("Cookie", "theme=dark"))) is None


def test_the_token_cookie_is_found_among_others() -> None:
    found = handshake_token("/", headers(("Cookie", "theme=dark; token=abc.def.ghi; lang=en")))

    assert found == "abc.def.ghi"


def test_query_wins_over_bearer_which_wins_over_the_cookie() -> None:
    everything = headers(("Authorization", "Bearer from-header"), ("Cookie", "token=from-cookie"))

    assert handshake_token("/?token=from-query", everything) == "from-query"
    assert handshake_token("/", everything) == "from-header"
    assert handshake_token("/", headers(("Cookie", "token=from-cookie"))) == "from-cookie"


def test_a_malformed_cookie_header_is_no_token() -> None:
    assert handshake_token("/", headers(("Cookie", 'token="unterminated'))) is None


def test_a_session_token_verifies_to_its_user() -> None:
    token, _ = issue(SECRET, SESSION, USER, "a@example.com", 60)

    claims = verify_session(SECRET, token)

    assert (claims.user_id, claims.kind) == (USER, SESSION)
    assert claims.expires_at > time.time()


def unsigned(claims: dict[str, object]) -> str:
    def part(value: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(orjson.dumps(value)).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


def refused_tokens() -> dict[str, str]:
    now = int(time.time())
    session = {"sub": USER, "typ": SESSION, "jti": "j", "iat": now, "exp": now + 60}
    return {
        "link": issue(SECRET, LINK, USER, "a@example.com", 60)[0],
        "expired": jwt.encode(session | {"exp": now - 1}, SECRET, algorithm="HS256"),
        "other secret": issue("another-secret-0123456789abcdef0123456789", SESSION, USER, "", 60)[
            0
        ],
        "alg none": unsigned(session),
        "garbage": "not-a-token",
    }


@pytest.mark.parametrize("kind", sorted(refused_tokens()))
def test_anything_but_a_valid_session_token_is_refused(kind: str) -> None:
    with pytest.raises(InvalidTokenError):
        verify_session(SECRET, refused_tokens()[kind])
