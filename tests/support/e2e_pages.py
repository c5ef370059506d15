"""What a person does on the page, as steps the browser tests share."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.support.e2e_stack import Stack
from tradepro.domain.fixed import USD_DECIMALS, format_scaled
from tradepro.domain.instruments import DEFAULT_INSTRUMENTS, Instrument
from tradepro.domain.positions import Contract


@dataclass(frozen=True)
class Device:
    """A screen the page is tried on: a desktop window, or a phone with touch and mobile
    emulation (where ``innerWidth`` grows to the content: only ``scrollWidth`` tells)."""

    name: str
    width: int
    height: int
    touch: bool = False

    def context_options(self) -> dict[str, Any]:
        options: dict[str, Any] = {"viewport": {"width": self.width, "height": self.height}}
        if self.touch:
            options |= {"is_mobile": True, "has_touch": True, "device_scale_factor": 3}
        return options

    def press(self, target: Locator) -> None:
        """A tap on a touch screen, a click elsewhere; both wait until nothing else would
        receive the event at the target's place (a covered button fails)."""
        if self.touch:
            target.tap()
        else:
            target.click()


PHONE = Device("phone", 390, 844, touch=True)
DESKTOP = Device("desktop", 1440, 900)

on_both_devices = pytest.mark.parametrize(
    ("device", "page"),
    [
        pytest.param(DESKTOP, DESKTOP, id="desktop-1440x900"),
        pytest.param(PHONE, PHONE, id="phone-390x844"),
    ],
    indirect=["page"],
)
"""A test run as a 1440x900 desktop and as a 390x844 phone with touch (``device`` and a
``page`` made for it)."""

_COVERED = """() => {
  const drawn = (node) => {
    const box = node.getBoundingClientRect();
    return box.width > 0 && box.height > 0 && getComputedStyle(node).visibility !== "hidden";
  };
  const notes = [...document.querySelectorAll("[data-testid=toast], [data-testid=away-panel]")]
    .filter(drawn);
  const controls = [...document.querySelectorAll(
    "button, input:not([type=radio]), select, label.side, [data-testid=pnl], [data-testid=mark]",
  )].filter(drawn);
  const found = [];
  for (const note of notes) {
    const a = note.getBoundingClientRect();
    for (const control of controls) {
      if (note.contains(control)) continue;
      const b = control.getBoundingClientRect();
      if (a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom) {
        found.push(`${note.dataset.testid} covers ${control.outerHTML.slice(0, 100)}`);
      }
    }
  }
  return found;
}"""


def assert_fits(page: Page, device: Device) -> None:
    """No sideways panning: the document is no wider than the screen."""
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= device.width, f"the page is {width} px wide on a {device.width} px screen"


def covered_controls(page: Page) -> list[str]:
    """Every control, price or PnL that a notification lies over, as it is drawn now."""
    found: list[str] = page.evaluate(_COVERED)
    return found


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
    page.get_by_role("combobox", name="Market").select_option(asset)


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
