"""The page an e-mailed sign-in link opens: "Sign in as you@example.com?" and a button.

Opening the link signs nobody in. Only the button does, with a POST that the browser
marks as coming from this very page (``Origin``, ``Sec-Fetch-Site``): a page of another
site can neither press it for you (no frames: ``frame-ancestors 'none'``) nor send the POST
itself. So an attacker who sends you (or makes your browser open) a link to *their*
account gets at most this page, which names their address, never a session in your
browser.
"""

from __future__ import annotations

from html import escape

from fastapi.responses import HTMLResponse

from tradepro.web.serve import PAGE_HEADERS

VERIFY_PATH = "/api/v1/auth/signin/verify"
CONFIRM_HEADERS = PAGE_HEADERS | {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
}
"""No script at all, never framed, never cached (the link's token is in the page), and
no ``Referer`` carrying the token to the next page."""

_PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>Sign in to TradePro?</title>
  <link rel="icon" href="/static/favicon.svg" type="image/svg+xml">
  <link rel="stylesheet" href="/static/css/app.css">
</head>
<body>
  <header class="topbar">
    <div class="brand" aria-label="TradePro">Trade<span>Pro</span></div>
  </header>
  <main>
    <section class="signin panel" aria-labelledby="confirm-title" data-testid="confirm-signin">
      <h1 id="confirm-title">Sign in as
        <span class="address"><span data-testid="confirm-email">{email}</span>?</span></h1>
      <p class="muted">This sign-in link is for the TradePro account
        <strong class="address">{email}</strong>. Press the button to sign in to that
        account in this browser. The link works once and expires 15 minutes after it was
        sent.</p>
      <form method="post" action="{action}">
        <input type="hidden" name="token" value="{token}">
        <button type="submit" class="primary address" data-testid="confirm-button">
          Sign in as {email}</button>
      </form>
      <p class="muted">Not your address, or you did not ask for a link? Close this page:
        nothing happens unless you press the button.
        <a href="/">Go to the sign-in page</a> to ask for a link of your own.</p>
    </section>
  </main>
</body>
</html>
"""


def confirmation_page(email: str, token: str) -> HTMLResponse:
    """The page for a valid, unused link to ``email``'s account."""
    body = _PAGE.format(
        email=escape(email), token=escape(token, quote=True), action=escape(VERIFY_PATH)
    )
    return HTMLResponse(body, headers=CONFIRM_HEADERS)
