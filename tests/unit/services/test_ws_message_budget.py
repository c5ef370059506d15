"""A WebSocket connection's message budget: a burst after a quiet spell, then the rate."""

from __future__ import annotations

from tradepro.services.ws.limits import MessageBudget


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_then_the_rate_then_refused() -> None:
    clock = Clock()
    budget = MessageBudget(per_s=2, burst=5, clock=clock)
    assert all(budget.take() for _ in range(5))
    assert not budget.take()  # the burst is spent
    clock.now += 0.5  # one message's worth of time
    assert budget.take()
    assert not budget.take()


def test_a_quiet_spell_refills_up_to_the_burst_only() -> None:
    clock = Clock()
    budget = MessageBudget(per_s=2, burst=3, clock=clock)
    assert all(budget.take() for _ in range(3))
    clock.now += 3600.0
    assert [budget.take() for _ in range(4)] == [True, True, True, False]


def test_a_refused_message_does_not_spend_what_is_left() -> None:
    clock = Clock()
    budget = MessageBudget(per_s=4, burst=1, clock=clock)
    assert budget.take()
    clock.now += 0.125  # half a message's worth
    assert not budget.take()
    clock.now += 0.125  # the other half: now one whole message
    assert budget.take()
