"""The API server's connection cap against the process's open-file limit."""

from __future__ import annotations

from tradepro.api.server import SPARE_FILES, open_files_for


def test_a_soft_limit_with_room_is_left_alone() -> None:
    assert open_files_for(2048, 20_000, 20_000) == (20_000, 2048)


def test_the_soft_limit_is_raised_as_far_as_needed() -> None:
    assert open_files_for(2048, 1024, 524_288) == (2048 + SPARE_FILES, 2048)
    assert open_files_for(2048, 1024, -1) == (2048 + SPARE_FILES, 2048)  # hard: unlimited


def test_the_cap_shrinks_to_what_the_hard_limit_allows() -> None:
    assert open_files_for(2048, 1024, 1024) == (1024, 1024 - SPARE_FILES)
    assert open_files_for(2048, 512, 1500) == (1500, 1500 - SPARE_FILES)
    assert open_files_for(2048, 100, 100) == (100, 1)  # never below one
