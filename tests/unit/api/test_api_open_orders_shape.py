"""get-open-orders sends the engine's rendered orders without the response model's check
(it cost 3 ms a page): the engine's shape must be the model's, field for field."""

from __future__ import annotations

from tests.support.desk import BTC, Desk
from tradepro.api.schemas import OpenOrderOut, OpenOrdersOut
from tradepro.domain.commands import ReportAccount
from tradepro.domain.orders import Side
from tradepro.protocol.render import callback_body
from tradepro.protocol.replies import Account


def test_the_engines_page_is_the_response_models_shape() -> None:
    desk = Desk()
    desk.tick(1_000_000, 1_000_005)
    desk.opened(qty=1_000, leverage=10)
    desk.opened(Side.SELL, qty=2_000, leverage=20, take_profit=900_000, stop_loss=1_100_000)
    desk.tick(500_000, 500_005, asset="SOL_USDC")  # an asset with a quote, none held
    [report] = desk.engine.apply(ReportAccount(desk.next_id(), desk.now_us, "alice", limit=1))
    account = Account.from_body(callback_body(report, desk.engine.config.instruments))
    page = {"orders": account.orders, "nextCursor": account.next_cursor}
    assert OpenOrdersOut.model_validate(page).model_dump(mode="json") == page
    assert account.orders is not None and account.next_cursor is not None
    for order in account.orders:
        assert set(order) == set(OpenOrderOut.model_fields)
    assert {order["asset"] for order in account.orders} == {BTC}
