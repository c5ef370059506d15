"""Sign-in e-mails: through a real (local) SMTP server, or, in dev without SMTP, the log."""

from __future__ import annotations

import logging
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from tests.support.servers import free_port
from tradepro.api.mail import Mailer

LINK = "http://tradepro.test/api/v1/auth/signin/verify?token=abc.def.ghi"


async def test_without_smtp_the_link_is_kept_not_sent(caplog: pytest.LogCaptureFixture) -> None:
    mailer = Mailer(None)
    with caplog.at_level(logging.WARNING, logger="tradepro.mail"):
        await mailer.send_sign_in_link("dev@example.com", LINK)
    assert dev_links(caplog) == [LINK]  # kept in the log, where dev mode shows it


class Inbox:
    def __init__(self) -> None:
        self.envelopes: list[tuple[str, list[str], EmailMessage]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        message = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos), message))
        return "250 OK"


def dev_links(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The links the mailer wrote to its log (dev mode only)."""
    return [
        str(record.args[-1])
        for record in caplog.records
        if record.name == "tradepro.mail" and isinstance(record.args, tuple) and record.args
    ]


async def test_the_link_is_mailed_to_the_address_only(caplog: pytest.LogCaptureFixture) -> None:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        mailer = Mailer(f"smtp://127.0.0.1:{port}")
        with caplog.at_level(logging.DEBUG, logger="tradepro.mail"):
            await mailer.send_sign_in_link("trader@example.com", LINK)
    finally:
        controller.stop()
    [(sender, recipients, message)] = inbox.envelopes
    assert recipients == ["trader@example.com"]
    assert sender == "no-reply@tradepro.local"
    assert message["To"] == "trader@example.com"
    assert "sign-in" in message["Subject"]
    body = message.get_body(("plain",))
    assert isinstance(body, EmailMessage)
    assert LINK in body.get_content()
    assert dev_links(caplog) == []  # only dev mode keeps links
    assert LINK not in caplog.text
