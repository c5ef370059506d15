"""What a person does on the page, as steps the browser tests share."""

from __future__ import annotations

import uuid

from playwright.sync_api import Page, expect

from tests.support.e2e_stack import Stack
from tradepro.domain.fixed import USD_DECIMALS, format_scaled
from tradepro.domain.instruments import DEFAULT_INSTRUMENTS, Instrument
from tradepro.domain.positions import Contract


def new_email() -> str:
    return f"trader-{uuid.uuid4().hex[:10]}@example.com"


def sign_in(page: Page, stack: Stack, email: str) -> None:
    """Ask for a link on the sign-in page, then open the link the API logged."""
    page.goto(stack.base_url + "/")
    page.get_by_label("E-mail").fill(email)
    page.get_by_role("button", name="Send me a sign-in link").click()
    expect(page.get_by_test_id("check-mail")).to_be_visible()
    confirm_link(page, stack, email)
    expect(page.get_by_test_id("user-email")).to_have_text(email)
    expect(page.get_by_test_id("badge-connection")).to_have_text("Live")


def confirm_link(page: Page, stack: Stack, email: str) -> None:
    """Open the logged link: a page asks "Sign in as <email>?"; press its button."""
    page.goto(stack.sign_in_link(email))
    expect(page.get_by_role("heading", name=f"Sign in as {email}?")).to_be_visible()
    page.get_by_role("button", name=f"Sign in as {email}").click()


def pick(page: Page, asset: str) -> None:
    page.get_by_label("Market").select_option(asset)


def fill_ticket(page: Page, side: str, qty: str, leverage: int) -> None:
    page.get_by_text("Buy / Long" if side == "buy" else "Sell / Short").click()
    page.get_by_label("Quantity").fill(qty)
    page.get_by_label("Leverage").fill(str(leverage))


def contract(asset: str) -> Contract:
    return Contract(DEFAULT_INSTRUMENTS[asset])


def instrument(asset: str) -> Instrument:
    return DEFAULT_INSTRUMENTS[asset]


def usd(cents: int, signed: bool = False) -> str:
    """Cents as the page shows them: "$1,234.50", "-$5.00", "+$4.90" when ``signed``."""
    whole, fraction = format_scaled(abs(cents), USD_DECIMALS).split(".")
    text = f"${int(whole):,}.{fraction}"
    if cents < 0:
        return f"-{text}"
    return f"+{text}" if signed and cents > 0 else text


def price(ticks: int, asset: str) -> str:
    """Ticks as the page shows a price: "95,010.0"."""
    whole, _, fraction = format_scaled(ticks, instrument(asset).price_decimals).partition(".")
    return f"{int(whole):,}" + (f".{fraction}" if fraction else "")
