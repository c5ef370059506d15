"""``GET /account/stats`` against a model computed in Python from the trades written, on
both databases: counts, sums, half-even averages and ratios, and the maximum drawdown of
the realized equity (in close order, ties by order id)."""

from __future__ import annotations

import random
from decimal import Decimal
from typing import Any

import pytest

from tests.support.api import API, Session, Stack
from tests.support.trades import T0_US, record, trade
from tradepro.domain.events import ClosedTrade
from tradepro.domain.fixed import div_round_half_even

pytestmark = pytest.mark.integration

STATS = f"{API}/account/stats"


def usd(cents: int) -> str:
    return str(Decimal(cents).scaleb(-2).quantize(Decimal("0.01")))


def model(trades: list[ClosedTrade]) -> dict[str, Any]:
    pnls = [t.pnl for t in sorted(trades, key=lambda t: (t.closed_us, t.position.order_id))]
    wins = [p for p in pnls if p > 0]
    losses = [p for p in pnls if p < 0]
    equity = peak = drawdown = 0
    for pnl in pnls:
        equity += pnl
        peak = max(peak, equity)
        drawdown = max(drawdown, peak - equity)

    def ratio(numerator: int, denominator: int) -> str | None:
        if denominator == 0:
            return None
        return str(Decimal(div_round_half_even(numerator * 10_000, denominator)).scaleb(-4))

    return {
        "trades": len(pnls),
        "wins": len(wins),
        "losses": len(losses),
        "winRate": ratio(len(wins), len(pnls)),
        "totalPnl": usd(sum(pnls)),
        "grossProfit": usd(sum(wins)),
        "grossLoss": usd(sum(losses)),
        "averageWin": usd(div_round_half_even(sum(wins), len(wins))) if wins else None,
        "averageLoss": usd(div_round_half_even(sum(losses), len(losses))) if losses else None,
        "profitFactor": ratio(sum(wins), -sum(losses)),
        "maxDrawdown": usd(drawdown),
        "commission": usd(sum(t.commission for t in trades)),
        "netPnl": usd(sum(pnls) - sum(t.commission for t in trades)),
    }


async def stats(stack: Stack, session: Session) -> dict[str, Any]:
    response = await stack.client.get(STATS, headers=session.auth)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_stats_match_the_model_of_the_trades(stack: Stack) -> None:
    me, other = await stack.sign_in(), await stack.sign_in()
    assert await stats(stack, me) == model([])  # nothing closed yet: nulls, zeros
    rng = random.Random(5)
    # Many ties on the close time (one tick closes several positions), and another user.
    mine = [
        trade(me.user_id, T0_US + rng.randrange(40) * 1000, rng, pnl=rng.randrange(-9000, 9000))
        for _ in range(300)
    ]
    mine.append(trade(me.user_id, T0_US + 5000, rng, pnl=0))  # neither a win nor a loss
    mine = [t._replace(commission=rng.randrange(0, 60)) for t in mine]  # PnL stays price PnL
    theirs = [trade(other.user_id, T0_US + 1, rng, pnl=-(10**9))]
    await record(stack.context.database, mine + theirs)
    got = await stats(stack, me)
    assert got == model(mine)
    assert Decimal(got["maxDrawdown"]) > 0
    assert Decimal(got["commission"]) > 0


async def test_a_fall_from_the_start_counts_and_all_wins_have_no_profit_factor(
    embedded: Stack,
) -> None:
    falling, winning = await embedded.sign_in(), await embedded.sign_in()
    rng = random.Random(1)
    # Realized equity 0 -> -5.00 -> -2.00 -> -12.00: the fall from the starting 0 is 12.00.
    steps = [-500, 300, -1000]
    trades = [trade(falling.user_id, T0_US + i, rng, pnl=p) for i, p in enumerate(steps)]
    wins = [trade(winning.user_id, T0_US + i, rng, pnl=p) for i, p in enumerate((1, 2, 4))]
    await record(embedded.context.database, trades + wins)
    got = await stats(embedded, falling)
    assert got["maxDrawdown"] == "12.00" and got["averageLoss"] == "-7.50"
    assert got["profitFactor"] == "0.2000" and got["winRate"] == "0.3333"
    got = await stats(embedded, winning)
    assert got["profitFactor"] is None and got["averageLoss"] is None
    assert got["averageWin"] == "0.02" and got["maxDrawdown"] == "0.00"  # 7/3 cents, half-even
    assert got == model(wins)
