"""One user polling reads as fast as they can is slowed down with 429s; other users'
reads go on as before."""

from __future__ import annotations

import pytest

from tests.support.api import API, Stack, assert_error

pytestmark = pytest.mark.integration

BURST = 10


@pytest.mark.stack_settings(read_limit_per_s=1, read_burst=BURST)
@pytest.mark.parametrize(
    "path", ["/trade/get-open-orders", "/trade/get-close-orders", "/balance/me"]
)
async def test_a_user_polling_reads_gets_429_and_others_do_not(stack: Stack, path: str) -> None:
    alice, bob = await stack.sign_in(), await stack.sign_in()
    answers = [await stack.client.get(f"{API}{path}", headers=alice.auth) for _ in range(3 * BURST)]
    assert [answer.status_code for answer in answers[:BURST]] == [200] * BURST  # the burst
    refused = [answer for answer in answers[BURST:] if answer.status_code != 200]
    assert refused, "no read was refused"
    for answer in refused:
        body = assert_error(answer, 429, "rate_limited")
        assert int(answer.headers["Retry-After"]) >= 1, body
    # Bob has a bucket of his own: alice's polling costs him nothing.
    assert (await stack.balance(bob))["balance"] == "5000.00"
    assert await stack.open_orders(bob) == []
