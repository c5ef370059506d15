"""JSON bodies with exact numbers: ``1.1`` arrives as ``Decimal("1.1")``, never a float.

FastAPI reads bodies through ``Request.json()``; this route class hands each endpoint a
request whose ``json()`` parses non-integral numbers as ``Decimal`` (integers stay ints).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from decimal import Decimal
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

_DECODER = json.JSONDecoder(parse_float=Decimal, parse_constant=str)


def loads_exact(body: bytes) -> Any:
    """JSON with non-integral numbers as ``Decimal``; ``NaN``/``Infinity`` stay strings (so
    validation refuses them by name). Raises ``ValueError`` for malformed JSON (or text),
    ``json.JSONDecodeError`` for nesting deeper than the decoder's recursion allows (which
    FastAPI answers as malformed JSON, 422, as the fast path leaves it to)."""
    text = body.decode(json.detect_encoding(body), "surrogatepass")
    try:
        return _DECODER.decode(text)
    except RecursionError:
        raise json.JSONDecodeError("nested too deeply", text, 0) from None


class DecimalJsonRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = loads_exact(await self.body())
        return self._json


class DecimalJsonRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def exact_handler(request: Request) -> Response:
            return await handler(DecimalJsonRequest(request.scope, request.receive))

        return exact_handler
