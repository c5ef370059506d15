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


class DecimalJsonRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            self._json = json.loads(body, parse_float=Decimal, parse_constant=str)
        return self._json


def _refuse(name: str) -> None:
    raise ValueError(f"{name} is not a number")


class DecimalJsonRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def exact_handler(request: Request) -> Response:
            return await handler(DecimalJsonRequest(request.scope, request.receive))

        return exact_handler
