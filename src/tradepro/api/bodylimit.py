"""Request bodies over a limit are refused with 413 ``too_large``, before they are read whole.

At once when ``Content-Length`` says so; otherwise (a chunked body) as soon as what has
arrived is over the limit: reading on raises ``BodyTooLargeError``, an ``HTTPException``,
which the app's handler renders as ``{error, message}`` like every other failure.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tradepro.api.errors import error_response


class BodyTooLargeError(HTTPException):
    def __init__(self, limit_bytes: int) -> None:
        super().__init__(413, f"the request body is over the limit of {limit_bytes} bytes")


class BodyLimit:
    """ASGI middleware: at most ``limit_bytes`` of request body."""

    def __init__(self, app: ASGIApp, limit_bytes: int) -> None:
        self.app = app
        self.limit_bytes = limit_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_bytes
        for name, value in scope["headers"]:
            if name == b"content-length":
                if value.isdigit() and int(value) > limit:
                    refusal = BodyTooLargeError(limit)
                    response = error_response(413, "too_large", refusal.detail)
                    await response(scope, receive, send)
                    return
                break
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLargeError(limit)
            return message

        await self.app(scope, limited, send)
