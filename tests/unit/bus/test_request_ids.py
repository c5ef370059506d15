"""Correlation ids: random time-ordered (version 7) UUIDs made now, never repeated, fresh
bytes after a fork."""

from __future__ import annotations

import os
import time
import uuid

import pytest

from tradepro.bus.requests import TimeOrderedIds


def test_ids_are_canonical_random_uuids_and_never_repeat() -> None:
    ids = TimeOrderedIds(batch=7)  # many refills
    before_ms = time.time_ns() // 1_000_000
    made = [ids() for _ in range(50_000)]
    after_ms = time.time_ns() // 1_000_000
    assert len(set(made)) == len(made)
    for text in made[:2000]:
        parsed = uuid.UUID(text)
        assert str(parsed) == text
        assert parsed.version == 7
        assert parsed.variant == uuid.RFC_4122
        assert before_ms <= parsed.int >> 80 <= after_ms  # made now
    # every variant nibble and random nibble shows up: the bytes really are used
    assert {text[19] for text in made} == set("89ab")
    assert {text[15] for text in made} == set("0123456789abcdef")
    assert {text[-1] for text in made} == set("0123456789abcdef")


def test_a_forked_child_does_not_reuse_the_parents_pool(monkeypatch: pytest.MonkeyPatch) -> None:
    ids = TimeOrderedIds(clock_ms=lambda: 1_780_000_000_000)
    ids()
    in_parent = [ids() for _ in range(3)]
    parent = os.getpid()
    ids_again = TimeOrderedIds(clock_ms=lambda: 1_780_000_000_000)
    ids_again._pool, ids_again._at, ids_again._pid = ids._pool, ids._at - 30, ids._pid
    assert [ids_again() for _ in range(3)] == in_parent  # the same pool gives the same ids
    ids_again._at -= 30
    monkeypatch.setattr(os, "getpid", lambda: parent + 1)  # as in a forked child
    assert not set(ids_again() for _ in range(3)) & set(in_parent)
