"""Request and response models (camelCase, money/prices/quantities as decimal strings)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, StrictInt, StrictStr

Amount = Annotated[
    StrictStr | StrictInt | Decimal,
    Field(description="A decimal string (preferred) or a JSON number; never rounded."),
]


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SignupIn(Model):
    email: EmailStr = Field(max_length=254)


class SignupOut(BaseModel):
    message: str


class UserOut(BaseModel):
    id: str
    email: str


class SessionOut(BaseModel):
    token: str
    user: UserOut


class CreateOrderIn(Model):
    asset: StrictStr = Field(max_length=32, examples=["BTC_USDC"])
    side: Literal["buy", "sell"]
    qty: Amount
    leverage: StrictInt = Field(ge=1, le=1000)
    takeProfit: Amount | None = None  # noqa: N815 (the wire format is camelCase)
    stopLoss: Amount | None = None  # noqa: N815
    price: Amount | None = Field(None, description="The price the user saw (slippage guard).")
    slippage: StrictInt | None = Field(None, ge=0, le=10_000, description="Basis points.")
    type: Literal["market", "limit", "stop"] = Field(
        "market", description="`limit` and `stop` wait for their price (a pending order)."
    )
    limitPrice: Amount | None = Field(None, description="A limit order's price.")  # noqa: N815
    stopPrice: Amount | None = Field(None, description="A stop order's price.")  # noqa: N815
    expiresAt: datetime | None = Field(  # noqa: N815
        None, description="ISO 8601 time with a zone; absent: good till cancelled."
    )
    trailingStop: Amount | None = Field(  # noqa: N815
        None,
        description="A trailing stop's distance in price units (on a pending order it "
        "trails from the fill).",
    )


class CancelOrderIn(Model):
    orderId: StrictStr = Field(max_length=64)  # noqa: N815


class AmendOrderIn(Model):
    """Only the fields present change; ``null`` clears takeProfit, stopLoss or expiresAt."""

    orderId: StrictStr = Field(max_length=64)  # noqa: N815
    limitPrice: Amount | None = None  # noqa: N815
    stopPrice: Amount | None = None  # noqa: N815
    qty: Amount | None = None
    takeProfit: Amount | None = None  # noqa: N815
    stopLoss: Amount | None = None  # noqa: N815
    expiresAt: datetime | None = None  # noqa: N815
    trailingStop: Amount | None = Field(  # noqa: N815
        None, description="A trailing stop's distance in price units (trails from the fill)."
    )


class CloseOrderIn(Model):
    orderId: StrictStr = Field(max_length=64)  # noqa: N815
    qty: Amount | None = Field(
        None, description="Close only this much (a partial close, below the open qty)."
    )


class ModifyOrderIn(Model):
    """Only the fields present change; ``null`` clears one."""

    orderId: StrictStr = Field(max_length=64)  # noqa: N815
    takeProfit: Amount | None = None  # noqa: N815
    stopLoss: Amount | None = None  # noqa: N815
    trailingStop: Amount | None = Field(  # noqa: N815
        None, description="A distance in price units; setting it restarts the trailing."
    )


class CloseAllIn(Model):
    asset: StrictStr | None = Field(None, max_length=32, description="Only this asset's.")


class _OrderFields(BaseModel):
    """What every order shape shares."""

    orderId: str  # noqa: N815
    asset: str
    side: str
    qty: str
    leverage: int
    openPrice: str  # noqa: N815
    slippage: int | None
    createdAt: str  # noqa: N815


class OrderOut(_OrderFields):
    margin: str
    liquidationPrice: str  # noqa: N815
    takeProfit: str | None  # noqa: N815
    stopLoss: str | None  # noqa: N815
    trailingStop: str | None = None  # noqa: N815
    commission: str = Field("0.00", description="Commission paid at open (USD).")


class PendingOrderOut(BaseModel):
    orderId: str  # noqa: N815
    asset: str
    side: str
    type: str
    qty: str
    leverage: int
    limitPrice: str | None  # noqa: N815
    stopPrice: str | None  # noqa: N815
    takeProfit: str | None  # noqa: N815
    stopLoss: str | None  # noqa: N815
    trailingStop: str | None  # noqa: N815
    reservedMargin: str  # noqa: N815
    expiresAt: str | None  # noqa: N815
    createdAt: str  # noqa: N815


class PendingOrdersOut(BaseModel):
    orders: list[PendingOrderOut]


class EndedOrderOut(PendingOrderOut):
    status: str = Field(description="`filled`, `canceled`, `expired` or `rejected`.")
    reason: str = Field(description="`filled`, `user`, `expired` or `insufficient_balance`.")
    fillPrice: str | None  # noqa: N815
    endedAt: str  # noqa: N815


class OrderHistoryOut(BaseModel):
    orders: list[EndedOrderOut]
    nextCursor: str | None  # noqa: N815


class CancelOrderOut(BaseModel):
    orderId: str  # noqa: N815
    status: str
    balance: str


class OpenOrderOut(OrderOut):
    unrealizedPnl: str | None  # noqa: N815
    trailingStopPrice: str | None  # noqa: N815


class OpenOrderNowOut(OrderOut):
    """A modified position: as in get-open-orders, without the live PnL."""

    trailingStopPrice: str | None  # noqa: N815


class OpenOrdersOut(BaseModel):
    orders: list[OpenOrderOut]
    nextCursor: str | None  # noqa: N815


class CloseOrderOut(BaseModel):
    orderId: str  # noqa: N815
    tradeId: str = Field(description="The closed trade's id (a partial close's own).")  # noqa: N815
    closePrice: str  # noqa: N815
    pnl: str
    commission: str
    reason: str
    balance: str
    closedQty: str  # noqa: N815
    remainingQty: str  # noqa: N815


class ClosedOrderOut(_OrderFields):
    tradeId: str  # noqa: N815
    closePrice: str  # noqa: N815
    pnl: str
    commission: str
    reason: str
    liquidated: bool
    closedAt: str  # noqa: N815


class CloseAllOut(BaseModel):
    orders: list[ClosedOrderOut]
    balance: str


class ClosedOrdersOut(BaseModel):
    orders: list[ClosedOrderOut]
    nextCursor: str | None  # noqa: N815


class BalanceOut(BaseModel):
    balance: str
    lockedMargin: str  # noqa: N815
    orderMargin: str = Field(description="Reserved by pending orders.")  # noqa: N815
    equity: str


class AccountLimitsOut(BaseModel):
    depositAllowance: str = Field(  # noqa: N815
        description="USD that may still be deposited today (UTC)."
    )
    dailyDepositCap: str = Field(description="USD one may deposit per UTC day.")  # noqa: N815
    maxPaperBalance: str = Field(  # noqa: N815
        description="The most USD an account may be reset to or hold after a deposit."
    )
    startingBalance: str = Field(description="A reset's default balance, in USD.")  # noqa: N815


class ResetIn(Model):
    balance: Amount | None = Field(
        None, description="The new balance in USD (default: the starting balance)."
    )


class DepositIn(Model):
    amount: Amount = Field(description="USD to add to the free balance.")


class LedgerOut(BaseModel):
    id: str = Field(description="The ledger entry's id (the engine command's id).")
    kind: str = Field(description="``deposit`` or ``reset``.")
    amount: str = Field(description="USD added to the free balance (negative: taken out).")
    balance: str = Field(description="The free balance after it.")
    at: str
    depositAllowance: str | None = Field(  # noqa: N815
        None, description="What may still be deposited today (UTC), after this deposit."
    )
    closedOrders: list[dict[str, Any]] | None = Field(  # noqa: N815
        None, description="A reset: the positions it closed (get-close-orders shape)."
    )
    canceledOrders: list[dict[str, Any]] | None = Field(  # noqa: N815
        None, description="A reset: the pending orders it cancelled (order-history shape)."
    )


class ErrorOut(BaseModel):
    error: str
    message: str


class CandleOut(BaseModel):
    time: int = Field(description="The candle's first second, in seconds since the epoch.")
    open: str
    high: str
    low: str
    close: str
    quotes: int = Field(description="How many quotes the candle aggregates.")
    simulated: bool = Field(description="True when any of those quotes was simulated.")
    backfill: bool = Field(
        description="True when (part of) the candle is history the simulated feed generated "
        "on its first run, not recorded quotes."
    )


class CandlesOut(BaseModel):
    asset: str
    interval: str
    candles: list[CandleOut]


class InstrumentOut(BaseModel):
    symbol: str
    priceDecimals: int  # noqa: N815
    qtyDecimals: int  # noqa: N815
    maxLeverage: int  # noqa: N815
    commissionBps: int = Field(0, description="Commission at open and at close, basis points.")  # noqa: N815
    maintenanceMarginBps: int = Field(  # noqa: N815
        description="Margin call when margin + PnL <= this share of the initial margin."
    )


class InstrumentsOut(BaseModel):
    instruments: list[InstrumentOut]


class UiConfigOut(BaseModel):
    env: str
    wsUrl: str  # noqa: N815
    staleAfterS: float  # noqa: N815
    signInLinksLogged: bool  # noqa: N815
    chartLibrary: bool  # noqa: N815
    feed: str = Field(
        description="The price feed that runs: `backpack` (market prices) or `sim` (simulated)."
    )


class ApiKeyCreateIn(Model):
    name: StrictStr = Field(
        min_length=1, max_length=64, description="A name you choose, to tell your keys apart."
    )
    scopes: list[Literal["read", "trade"]] = Field(
        min_length=1,
        max_length=2,
        description='`["read"]` (GET only) or `["read", "trade"]` (also places and closes orders).',
    )


class ApiKeyOut(BaseModel):
    id: str
    name: str
    prefix: str = Field(description="The key's first characters (the rest is never shown again).")
    scopes: list[str]
    createdAt: str  # noqa: N815
    lastUsedAt: str | None = Field(  # noqa: N815
        description="When the key was last used, to the minute; null if never."
    )


class ApiKeyCreatedOut(ApiKeyOut):
    key: str = Field(description="The key itself: shown this once, never stored.")


class ApiKeysOut(BaseModel):
    keys: list[ApiKeyOut]


class ApiKeyRevokedOut(BaseModel):
    id: str
    message: str


class StatsOut(BaseModel):
    trades: int = Field(description="Closed trades (each partial close counts as one).")
    wins: int = Field(description="Trades with a PnL above zero.")
    losses: int = Field(description="Trades with a PnL below zero (zero is neither).")
    winRate: str | None = Field(  # noqa: N815
        description="wins / trades, half-even to 4 decimals; null with no trades."
    )
    totalPnl: str  # noqa: N815
    grossProfit: str = Field(description="The sum of the winning trades' PnL.")  # noqa: N815
    grossLoss: str = Field(description="The sum of the losing trades' PnL (0 or negative).")  # noqa: N815
    averageWin: str | None = Field(  # noqa: N815
        description="grossProfit / wins, half-even to the cent; null with no wins."
    )
    averageLoss: str | None = Field(  # noqa: N815
        description="grossLoss / losses, half-even to the cent (negative); null with no losses."
    )
    profitFactor: str | None = Field(  # noqa: N815
        description="grossProfit / -grossLoss, half-even to 4 decimals; null with no losses."
    )
    maxDrawdown: str = Field(  # noqa: N815
        description="The largest fall of the realized equity (the running sum of the PnL, in "
        "close order, from 0) below an earlier peak; 0 or positive."
    )
    commission: str = Field(
        description="The commission the trades paid (0 or positive; PnL is price PnL)."
    )
    netPnl: str = Field(  # noqa: N815
        description="totalPnl - commission: what the trades moved the balance by."
    )


class EquityPointOut(BaseModel):
    time: str = Field(description="A whole minute, ISO 8601 UTC.")
    equity: str = Field(
        description="Cash (balance + locked margin + order margin) plus unrealizedPnl, just "
        "before this time."
    )
    unrealizedPnl: str = Field(  # noqa: N815
        description="The positions open then, valued at the recorded price (the close of "
        "the last one-minute candle that ended by this time)."
    )


class PortfolioHistoryOut(BaseModel):
    interval: str = Field(description="`1m`, `1h` or `1d`.")
    from_: str = Field(alias="from", description="The span's start (whole seconds).")
    to: str = Field(description="The span's end (at most now).")
    points: list[EquityPointOut] = Field(description="Oldest first; none before sign-up.")
