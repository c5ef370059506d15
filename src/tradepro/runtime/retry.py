"""Retry with backoff: "try; on a failure we expect to pass, log it with the delay, wait,
try again". One helper for every service loop that must outlive a bus or database outage.

``retry(attempt, ...)`` repeats one call until it succeeds. Loops that go on after a
success (a reader, the engine's main loop) keep their own ``while`` and hand each failure
to a ``RetryPause``, which does the logging, the backoff and the wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from tradepro.runtime.backoff import Backoff

T = TypeVar("T")

ErrorTypes = type[BaseException] | tuple[type[BaseException], ...]


class RetryStoppedError(Exception):
    """``stop`` was set before the attempt succeeded."""


def describe_error(error: BaseException) -> str:
    """The error's first line (drivers add pages of context), or its repr when it is empty."""
    text = str(error)
    return text.splitlines()[0] if text else repr(error)


class RetryPause:
    """The wait between two attempts: counts the failure, logs what failed and how long it
    waits, then sleeps for the next backoff delay (cut short when ``stop`` is set).

    Failures of the ``expected`` types are logged as warnings (an outage); any other error
    as an error (a bug or a surprise), and retried all the same."""

    def __init__(
        self,
        what: str,
        logger: logging.Logger,
        *,
        backoff: Backoff | None = None,
        expected: ErrorTypes = Exception,
        stop: asyncio.Event | None = None,
    ) -> None:
        self.what = what
        self.logger = logger
        self.backoff = backoff or Backoff()
        self.expected = expected
        self.stop = stop

    @property
    def failures(self) -> int:
        """Failures since the last success."""
        return self.backoff.failures

    def succeeded(self) -> None:
        """The attempt worked: the next failure waits the shortest delay again."""
        self.backoff.reset()

    async def after(self, error: BaseException) -> None:
        """Log ``error`` with the delay, then wait it out (or until ``stop``)."""
        delay_s = self.backoff.next_delay_s()
        level = logging.WARNING if isinstance(error, self.expected) else logging.ERROR
        self.logger.log(
            level, "%s failed (%s); retry in %.2fs", self.what, describe_error(error), delay_s
        )
        if self.stop is None:
            await asyncio.sleep(delay_s)
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stop.wait(), delay_s)


async def retry(
    attempt: Callable[[], Awaitable[T]],
    what: str,
    logger: logging.Logger,
    *,
    retry_on: ErrorTypes = Exception,
    expected: ErrorTypes | None = None,
    backoff: Backoff | None = None,
    stop: asyncio.Event | None = None,
) -> T:
    """``await attempt()`` until it returns; each failure of a ``retry_on`` type is logged
    (as "<what> failed (<error>); retry in <delay>s") and waited out with ``backoff``.

    Other exceptions propagate. ``expected`` (default: ``retry_on``) are the failures that
    are logged as warnings; the rest of ``retry_on`` is logged as an error. With ``stop``,
    the wait ends early when it is set, and ``RetryStoppedError`` is raised instead of trying
    again."""
    pause = RetryPause(
        what,
        logger,
        backoff=backoff,
        expected=retry_on if expected is None else expected,
        stop=stop,
    )
    while True:
        if stop is not None and stop.is_set():
            raise RetryStoppedError(what)
        try:
            return await attempt()
        except retry_on as error:
            await pause.after(error)
