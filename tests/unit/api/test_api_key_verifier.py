"""``ApiKeyVerifier``: one lookup a minute per key, revoked keys refused at once, "last
used" written at most once a minute."""

from __future__ import annotations

import asyncio

import pytest

from tradepro.security.api_keys import ApiKeyVerifier, KeyClaims, digest, new_key
from tradepro.security.revocations import RevokedSessions
from tradepro.security.tokens import InvalidTokenError


class Table:
    """The database, as the verifier sees it: digests -> keys, and the uses written."""

    def __init__(self) -> None:
        self.keys: dict[str, KeyClaims] = {}
        self.lookups = 0
        self.touched: list[str] = []

    async def lookup(self, key_digest: str) -> tuple[str, str, str, frozenset[str]] | None:
        """A row's fields, as ``db.api_keys.key_by_digest`` gives them."""
        self.lookups += 1
        key = self.keys.get(key_digest)
        return None if key is None else (key.key_id, key.user_id, key.email, key.scopes)

    async def touch(self, key_id: str) -> None:
        self.touched.append(key_id)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def setup() -> tuple[Table, Clock, RevokedSessions, ApiKeyVerifier, str, KeyClaims]:
    table, clock, revoked = Table(), Clock(), RevokedSessions()
    verifier = ApiKeyVerifier(table.lookup, table.touch, revoked, ttl_s=60, clock=clock)
    key = new_key()
    claims = KeyClaims("5d7e1c1e-0b8f-4c43-9d7e-2a4f0f4f9e01", "user", "a@b.c", frozenset({"read"}))
    table.keys[digest(key)] = claims
    return table, clock, revoked, verifier, key, claims


def test_a_key_is_looked_up_once_a_minute_and_its_use_written_once_a_minute() -> None:
    table, clock, _, verifier, key, claims = setup()

    async def run() -> None:
        for _ in range(5):
            assert await verifier.verify(key) == claims
        assert (table.lookups, table.touched) == (1, [claims.key_id])
        clock.now += 61
        assert await verifier.verify(key) == claims
        assert (table.lookups, len(table.touched)) == (2, 2)

    asyncio.run(run())


def test_a_revoked_key_is_refused_at_once_though_remembered() -> None:
    _, _, revoked, verifier, key, claims = setup()

    async def run() -> None:
        await verifier.verify(key)
        revoked.add(claims.token_id, 2**40)
        with pytest.raises(InvalidTokenError):
            await verifier.verify(key)

    asyncio.run(run())


def test_unknown_keys_are_remembered_and_malformed_ones_never_looked_up() -> None:
    table, _, _, verifier, _, _ = setup()

    async def run() -> None:
        unknown = new_key()
        for _ in range(3):
            with pytest.raises(InvalidTokenError):
                await verifier.verify(unknown)
        assert table.lookups == 1
        for bad in ("tpk_short", "tpk_" + "A" * 44, "Bearer", ""):
            with pytest.raises(InvalidTokenError):
                await verifier.verify(bad)
        assert table.lookups == 1

    asyncio.run(run())


def test_keys_are_random_and_the_digest_is_sha256() -> None:
    keys = {new_key() for _ in range(100)}
    assert len(keys) == 100 and all(k.startswith("tpk_") and len(k) == 47 for k in keys)
    assert digest("tpk_x") == "c70e0619b7a3fbfcf82478be15240fc29dc89cae50782cfd001cbaf6ef7ada1b"
