"""The one retry helper: retries what it is told to, waits with the backoff, stops on stop."""

from __future__ import annotations

import asyncio
import logging

import pytest

from tradepro.runtime.backoff import Backoff
from tradepro.runtime.retry import RetryPause, RetryStoppedError, describe_error, retry

log = logging.getLogger("tests.retry")


class Flaky:
    """Fails ``failures`` times with ``error``, then returns the number of calls."""

    def __init__(self, failures: int, error: Exception) -> None:
        self.failures = failures
        self.error = error
        self.calls = 0

    async def __call__(self) -> int:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return self.calls


def tiny_backoff() -> Backoff:
    return Backoff(base_s=0.001, cap_s=0.004)


async def test_retries_until_the_attempt_succeeds() -> None:
    attempt = Flaky(3, ConnectionError("down"))
    backoff = tiny_backoff()
    assert await retry(attempt, "connecting", log, backoff=backoff) == 4
    assert attempt.calls == 4
    assert backoff.failures == 3


async def test_only_the_named_errors_are_retried() -> None:
    attempt = Flaky(1, KeyError("a bug"))
    with pytest.raises(KeyError):
        await retry(attempt, "reading", log, retry_on=ConnectionError, backoff=tiny_backoff())
    assert attempt.calls == 1


async def test_stop_ends_the_retries() -> None:
    stop = asyncio.Event()
    attempt = Flaky(1_000_000, ConnectionError("down"))
    backoff = Backoff(base_s=10.0, cap_s=10.0)  # only stop can end the first wait early
    task = asyncio.create_task(retry(attempt, "connecting", log, backoff=backoff, stop=stop))
    await asyncio.sleep(0.05)
    stop.set()
    with pytest.raises(RetryStoppedError):
        await asyncio.wait_for(task, 1.0)
    assert attempt.calls == 1


async def test_a_stop_set_before_the_first_attempt_tries_nothing() -> None:
    stop = asyncio.Event()
    stop.set()
    attempt = Flaky(0, ConnectionError("down"))
    with pytest.raises(RetryStoppedError):
        await retry(attempt, "connecting", log, stop=stop)
    assert attempt.calls == 0


async def test_expected_failures_are_warnings_and_others_errors(
    caplog: pytest.LogCaptureFixture,
) -> None:
    pause = RetryPause("reading", log, backoff=tiny_backoff(), expected=ConnectionError)
    with caplog.at_level(logging.WARNING, logger=log.name):
        await pause.after(ConnectionError("down"))
        await pause.after(ValueError("odd"))
    assert [record.levelno for record in caplog.records] == [logging.WARNING, logging.ERROR]
    assert pause.failures == 2
    pause.succeeded()
    assert pause.failures == 0


def test_an_error_is_described_by_its_first_line() -> None:
    assert describe_error(OSError("refused\nDETAIL: pages of it")) == "refused"
    assert describe_error(TimeoutError()) == "TimeoutError()"
