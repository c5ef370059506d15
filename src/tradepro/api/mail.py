"""Sign-in e-mails: through SMTP (``SMTP_URL``) or, in ``dev`` without SMTP, the log."""

from __future__ import annotations

import logging
from email.message import EmailMessage
from urllib.parse import unquote, urlsplit

import aiosmtplib

log = logging.getLogger("tradepro.mail")


class Mailer:
    def __init__(self, smtp_url: str | None, sender: str = "TradePro <no-reply@tradepro.local>"):
        self.smtp_url = smtp_url
        self.sender = sender

    async def send_sign_in_link(self, email: str, link: str) -> None:
        if not self.smtp_url:
            log.warning("dev mode, no SMTP_URL: sign-in link for %s: %s", email, link)
            return
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = email
        message["Subject"] = "Your TradePro sign-in link"
        message.set_content(
            f"Sign in to TradePro with this link (valid 15 minutes, usable once):\n\n{link}\n\n"
            "If you did not ask for it, ignore this e-mail."
        )
        parts = urlsplit(self.smtp_url)
        await aiosmtplib.send(
            message,
            hostname=parts.hostname or "127.0.0.1",
            port=parts.port or (465 if parts.scheme == "smtps" else 25),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            use_tls=parts.scheme == "smtps",
            start_tls=parts.scheme == "smtp+starttls",
            timeout=10,
        )
