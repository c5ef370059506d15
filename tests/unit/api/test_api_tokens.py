"""Sign-in links and sessions: HS256 with the secret, expiring, never one for the other."""

from __future__ import annotations

import base64
import time

import jwt
import orjson
import pytest

from tradepro.security.tokens import (
    LINK,
    SESSION,
    InvalidTokenError,
    SessionVerifier,
    issue,
    verify,
)

SECRET = "unit-token-secret-0123456789abcdef0123456789"  # noqa: S105 (a test secret)
USER = "7d0f3c52-1b8e-4e43-9a51-3c3b8e2f0d11"


def b64(part: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(part)).rstrip(b"=").decode()


def test_a_token_round_trips_with_its_claims() -> None:
    token, claims = issue(SECRET, SESSION, USER, "a@example.com", 60)
    verified = verify(SECRET, token, SESSION)
    assert verified == claims
    assert (verified.user_id, verified.email, verified.kind) == (USER, "a@example.com", SESSION)
    payload = jwt.decode(token, options={"verify_signature": False})
    assert verified.expires_at == payload["exp"] == payload["iat"] + 60
    assert (payload["typ"], payload["jti"]) == (SESSION, verified.token_id)
    assert jwt.get_unverified_header(token)["alg"] == "HS256"


def test_each_token_has_its_own_id() -> None:
    first = issue(SECRET, LINK, USER, "a@example.com", 60)[1].token_id
    second = issue(SECRET, LINK, USER, "a@example.com", 60)[1].token_id
    assert first != second


@pytest.mark.parametrize(("issued", "expected"), [(LINK, SESSION), (SESSION, LINK)])
def test_a_token_of_one_kind_is_refused_as_the_other(issued: str, expected: str) -> None:
    token, _ = issue(SECRET, issued, USER, "a@example.com", 60)
    with pytest.raises(InvalidTokenError):
        verify(SECRET, token, expected)


def claims_now(**changes: object) -> dict[str, object]:
    now = int(time.time())
    claims: dict[str, object] = {
        "sub": USER,
        "email": "a@example.com",
        "typ": SESSION,
        "jti": "abc",
        "iat": now,
        "exp": now + 60,
    }
    return {k: v for k, v in (claims | changes).items() if v is not None}


FORGERIES = {
    "expired": lambda: jwt.encode(claims_now(exp=int(time.time()) - 1), SECRET),
    "other secret": lambda: jwt.encode(claims_now(), "x" * 40),
    "alg none": lambda: f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims_now())}.",
    "HS384": lambda: jwt.encode(claims_now(), SECRET, algorithm="HS384"),
    "no exp": lambda: jwt.encode(claims_now(exp=None), SECRET),
    "no iat": lambda: jwt.encode(claims_now(iat=None), SECRET),
    "no sub": lambda: jwt.encode(claims_now(sub=None), SECRET),
    "no typ": lambda: jwt.encode(claims_now(typ=None), SECRET),
    "no jti": lambda: jwt.encode(claims_now(jti=None), SECRET),
    "garbage": lambda: "a.b.c",
    "empty": lambda: "",
}


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")  # HS384 forgery
@pytest.mark.parametrize("name", list(FORGERIES))
def test_forged_or_incomplete_tokens_are_refused(name: str) -> None:
    control = jwt.encode(claims_now(), SECRET)
    assert verify(SECRET, control, SESSION).user_id == USER  # the same claims, signed right
    with pytest.raises(InvalidTokenError):
        verify(SECRET, FORGERIES[name](), SESSION)


def test_a_tampered_signature_or_payload_is_refused() -> None:
    token, _ = issue(SECRET, SESSION, USER, "a@example.com", 60)
    header, payload, signature = token.split(".")
    other = b64(claims_now(sub="00000000-0000-4000-8000-000000000000"))
    for forged in (f"{header}.{other}.{signature}", f"{header}.{payload}.{signature[::-1]}"):
        with pytest.raises(InvalidTokenError):
            verify(SECRET, forged, SESSION)


class FrozenTime:
    def __init__(self, now: float) -> None:
        self.now = now

    def time(self) -> float:
        return self.now


def test_the_session_verifier_remembers_a_token_but_not_past_its_expiry(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    token, claims = issue(SECRET, SESSION, USER, "a@example.com", 60)
    verifier = SessionVerifier(SECRET)
    assert verifier.verify(token) == claims
    # Remembered: a second check does not decode the token again.
    monkeypatch.setattr("tradepro.security.tokens.verify", _must_not_decode)
    assert verifier.verify(token) == claims
    clock = FrozenTime(claims.expires_at - 0.001)
    monkeypatch.setattr("tradepro.security.tokens.time", clock)
    assert verifier.verify(token) == claims
    clock.now = claims.expires_at  # expired from exp on, as PyJWT decides
    with pytest.raises(InvalidTokenError, match="expired"):
        verifier.verify(token)


def _must_not_decode(*args: object) -> None:
    raise AssertionError("the token was decoded again")


@pytest.mark.parametrize("kind", [LINK, SESSION])
def test_the_session_verifier_refuses_what_verify_refuses(kind: str) -> None:
    verifier = SessionVerifier(SECRET)
    other_secret = SECRET + "-other"
    link = issue(SECRET, LINK, USER, "a@example.com", 60)[0]
    forged = issue(other_secret, kind, USER, "a@example.com", 60)[0]
    expired = issue(SECRET, SESSION, USER, "a@example.com", -1)[0]
    for token in (link, forged, expired, "not-a-token"):
        with pytest.raises(InvalidTokenError):
            verifier.verify(token)
        with pytest.raises(InvalidTokenError):  # and still on the second try: never remembered
            verifier.verify(token)


def test_the_session_verifier_forgets_the_oldest_tokens_beyond_its_size() -> None:
    verifier = SessionVerifier(SECRET, max_tokens=2)
    tokens = [issue(SECRET, SESSION, USER, f"{n}@example.com", 60)[0] for n in range(3)]
    for token in tokens:
        verifier.verify(token)
    assert list(verifier._verified) == tokens[1:]
