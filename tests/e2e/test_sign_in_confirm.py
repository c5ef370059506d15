"""The e-mailed link asks "Sign in as <address>?" before it signs a browser in, and
signing out ends the session (the old link stays used)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.support.e2e_pages import new_email
from tests.support.e2e_stack import Stack

pytestmark = pytest.mark.integration

SIZES = ((1440, 900), (390, 844))  # a laptop, a phone


def test_the_link_names_the_account_and_signs_in_only_when_confirmed(
    page: Page, stack: Stack, shot: Callable[[str], Path]
) -> None:
    email = new_email()
    page.goto(stack.base_url + "/")
    page.get_by_label("E-mail").fill(email)
    page.get_by_role("button", name="Send me a sign-in link").click()
    expect(page.get_by_test_id("check-mail")).to_be_visible()
    link = stack.sign_in_link(email)

    for width, height in SIZES:
        page.set_viewport_size({"width": width, "height": height})
        page.goto(link)
        expect(page.get_by_role("heading", name=f"Sign in as {email}?")).to_be_visible()
        button = page.get_by_role("button", name=f"Sign in as {email}")
        expect(button).to_be_in_viewport()
        shot(f"confirm-sign-in-{width}x{height}")

    # Opening the link signed nobody in: the UI still asks for an address.
    page.goto(stack.base_url + "/")
    expect(page.get_by_role("heading", name="Sign in to TradePro")).to_be_visible()

    page.goto(link)
    page.get_by_role("button", name=f"Sign in as {email}").click()
    expect(page.get_by_test_id("user-email")).to_have_text(email)
    expect(page.get_by_test_id("badge-connection")).to_have_text("Live")
    shot("signed-in-390x844")

    page.get_by_test_id("sign-out").click()
    expect(page.get_by_role("heading", name="Sign in to TradePro")).to_be_visible()
    page.goto(link)  # used: back on the sign-in page, which says why
    expect(page.get_by_test_id("signin-error")).to_contain_text("already used or expired")
    # The form is above the message: it says so (it used to send people "below").
    expect(page.get_by_test_id("signin-error")).to_contain_text(
        "Enter your e-mail above for a new link."
    )
    shot("link-used-390x844")
