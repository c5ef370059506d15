"""Closed trades as rows of ``existing_trades``: the columns, one row per trade, and the
PostgreSQL statement that records a batch of them in one round trip."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tradepro.domain.events import ClosedTrade

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

TRADE_COLUMNS = (
    "id",
    "user_id",
    "asset",
    "side",
    "quantity",
    "leverage",
    "open_price",
    "close_price",
    "pnl",
    "margin",
    "liquidation_price",
    "take_profit",
    "stop_loss",
    "slippage",
    "reason",
    "liquidated",
    "created_at",
    "closed_at",
    "commission",
    "order_id",
)
TRADE_TYPES = (
    "uuid", "uuid", "text", "text", "bigint", "int", "bigint", "bigint", "bigint", "bigint",
    "bigint", "bigint", "bigint", "int", "text", "bool", "timestamptz", "timestamptz",
    "bigint", "uuid",
)  # fmt: skip
POSTGRES_RECORD_TRADES = f"""
WITH trade AS (
    SELECT * FROM unnest({", ".join(f"${n}::{kind}[]" for n, kind in enumerate(TRADE_TYPES, 1))})
        AS t({", ".join(TRADE_COLUMNS)})
), owner AS (
    INSERT INTO users (id) SELECT DISTINCT user_id FROM trade ON CONFLICT (id) DO NOTHING
)
INSERT INTO existing_trades ({", ".join(TRADE_COLUMNS)})
SELECT {", ".join(TRADE_COLUMNS)} FROM trade ON CONFLICT (id) DO NOTHING
"""  # noqa: S608 (built from the constant column names and types above)
"""``record_trades`` on PostgreSQL: placeholder owners and trades in one statement (the
foreign key is checked at the statement's end, after the owners' insert)."""


def utc_time(timestamp_us: int) -> datetime:
    """Microseconds since the epoch as an aware UTC datetime."""
    return _EPOCH + timedelta(microseconds=timestamp_us)


def trade_row(trade: ClosedTrade) -> tuple[Any, ...]:
    position = trade.position
    return (
        trade.id,
        position.user_id,
        position.asset,
        position.side.value,
        position.qty,
        position.leverage,
        position.open_price,
        trade.close_price,
        trade.pnl,
        position.margin,
        position.liquidation_price,
        position.take_profit,
        position.stop_loss,
        position.slippage_bps,
        trade.reason.value,
        trade.liquidated,
        utc_time(position.opened_us),
        utc_time(trade.closed_us),
        trade.commission,
        trade.trade_id and position.order_id,
    )
