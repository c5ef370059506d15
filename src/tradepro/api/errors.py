"""One place where every failure becomes ``{error, message}`` with the right status."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from tradepro.bus.base import BusFullError, BusUnavailableError
from tradepro.bus.requests import RequestTimeoutError

log = logging.getLogger("tradepro.api")

ENGINE_STATUSES = {
    "invalid_order": 400,
    "invalid_request": 400,
    "unknown_kind": 400,
    "unknown_user": 404,
    "order_not_found": 404,
    "insufficient_balance": 409,
    "slippage_exceeded": 409,
    "duplicate_request": 409,
    "no_price": 503,
    "stale_price": 503,
    "invalid_price": 400,
    "deposit_limit": 409,
    "balance_limit": 409,
}
"""HTTP status of each engine rejection."""


class ApiError(Exception):
    """A failure the client should see as ``{error, message}`` with ``status``."""

    def __init__(
        self, status: int, error: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.message = message
        self.headers = headers


def error_response(
    status: int, error: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse({"error": error, "message": message}, status, headers=headers)


def _field(location: tuple[Any, ...]) -> str:
    parts = [str(part) for part in location if part not in ("body", "query", "header", "cookie")]
    return ".".join(parts) or "body"


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(_: Request, error: ApiError) -> JSONResponse:
        return error_response(error.status, error.error, error.message, error.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, error: RequestValidationError) -> JSONResponse:
        problems = [
            f"{_field(tuple(item.get('loc', ())))}: {item.get('msg', 'invalid')}"
            for item in error.errors()
        ]
        return error_response(422, "validation_error", "; ".join(problems) or "invalid request")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, error: StarletteHTTPException) -> JSONResponse:
        words = {401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
                 413: "too_large"}  # fmt: skip
        return error_response(
            error.status_code,
            words.get(error.status_code, "http_error"),
            str(error.detail),
            getattr(error, "headers", None),
        )

    @app.exception_handler(BusFullError)
    async def bus_full(_: Request, error: BusFullError) -> JSONResponse:
        log.error("bus full: %s", error)
        message = "the platform cannot take requests now: its message bus is out of memory"
        return error_response(503, "unavailable", message)

    @app.exception_handler(BusUnavailableError)
    async def bus_down(_: Request, error: BusUnavailableError) -> JSONResponse:
        log.warning("bus unavailable: %s", error)
        return error_response(503, "unavailable", "the trading engine cannot be reached now")

    @app.exception_handler(OperationalError)
    async def database_down(_: Request, error: OperationalError) -> JSONResponse:
        # The database cannot do the work now: down, unreachable, locked too long, or its
        # disk full ("database or disk is full"). Not the request's fault: a 503.
        log.warning("database unavailable: %s", error.orig)
        message = "the database cannot take this request now; try again later"
        return error_response(503, "unavailable", message)

    @app.exception_handler(RequestTimeoutError)
    async def timeout(_: Request, error: RequestTimeoutError) -> JSONResponse:
        message = (
            "the engine did not answer in time; the outcome is unknown: check your open "
            "orders, or retry with the same Idempotency-Key"
        )
        return error_response(504, "timeout", message)

    @app.exception_handler(Exception)
    async def unexpected(_: Request, error: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return error_response(500, "internal_error", "something went wrong on our side")
