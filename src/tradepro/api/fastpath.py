"""The hot trading routes, answered with less framework: same endpoints, same answers.

A create-order spends most of the API's CPU in FastAPI's per-request machinery: matching
every route, resolving dependencies, reading the body through generic code, validating the
response; the trading work itself (checking the numbers, one round trip to the engine) is
a fraction. For routes of a simple shape (the session user, the shared context, at most a
JSON body and optional headers or query parameters) this middleware answers the request
itself, with FastAPI's own pieces: the route's body field validates the body, the same
``current_user`` dependency checks the session, the same endpoint function runs, the route's
response field serializes the answer, and the app's exception handlers turn failures into
``{error, message}``. The routes stay declared in FastAPI (OpenAPI, ``/docs``).

Whatever it is not certain to answer exactly as FastAPI would goes to FastAPI untouched:
no or a refused session, a body that is not a JSON object or does not validate, an unusual
content type, a query string or header the route reads, dependency overrides (tests). The
equivalence is tested request by request against the app without this middleware.

It leans on FastAPI internals that are not a public API (``APIRoute.dependant`` and the
``Dependant`` fields it reads, ``APIRoute.response_field``, a default ``response_class``
being a ``DefaultPlaceholder``, the body field's validation, the app's
``exception_handlers``), so pyproject.toml pins FastAPI to the minor release these were
tested with (0.165). Before widening that pin, install the new release and re-run
``tests/unit/api/test_api_fastpath.py`` (the equivalence, request by request, and that the
fast path still answers the plain requests itself), ``tests/unit/api/test_api_validation.py``
(the error answers of both paths), then ``tests/integration/api`` and ``tests/security``
(the real stack); if one fails, mend this module or keep the pin.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from fastapi import Request, Response
from fastapi.datastructures import DefaultPlaceholder
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.requests import HTTPConnection
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tradepro.api.decimal_json import loads_exact
from tradepro.api.deps import current_user, get_context, session_user


class NotFastError(ValueError):
    """A route whose shape the fast path cannot take (raised when the app is built)."""


@dataclass(frozen=True)
class _Plan:
    """How to call one route's endpoint without FastAPI's resolver."""

    route: APIRoute
    call: Callable[..., Any]
    user_params: tuple[str, ...]
    context_params: tuple[str, ...]
    body: Any  # the route's body ``ModelField`` (FastAPI's own validator), or None
    body_param: str | None
    header_names: frozenset[bytes]
    """Lower-cased names of the headers the route reads: if one is sent, FastAPI answers."""
    reads_query: bool
    status_code: int

    @classmethod
    def of(cls, route: APIRoute) -> _Plan:
        dependant = route.dependant
        problem = _unsupported(dependant)
        if problem is None and route.response_field is None:
            problem = "no response model"
        if problem is None and not isinstance(route.response_class, DefaultPlaceholder):
            problem = "a custom response class"
        if problem is not None:
            raise NotFastError(f"{route.path}: the fast path cannot take {problem}")
        users = tuple(d.name for d in dependant.dependencies if d.call is current_user)
        contexts = tuple(d.name for d in dependant.dependencies if d.call is get_context)
        headers = frozenset(
            name.lower().encode("latin-1")
            for field in dependant.header_params
            for name in (field.alias, field.alias.replace("_", "-"))
        )
        body = dependant.body_params[0] if dependant.body_params else None
        assert dependant.call is not None
        return cls(
            route=route,
            call=dependant.call,
            user_params=tuple(name for name in users if name),
            context_params=tuple(name for name in contexts if name),
            body=body,
            body_param=body.name if body is not None else None,
            header_names=headers,
            reads_query=bool(dependant.query_params),
            status_code=route.status_code or 200,
        )


def _unsupported(dependant: Dependant) -> str | None:
    if dependant.path_params or dependant.cookie_params:
        return "path or cookie parameters"
    if len(dependant.body_params) > 1:
        return "more than one body parameter"
    specials = (
        dependant.request_param_name, dependant.websocket_param_name,
        dependant.http_connection_param_name, dependant.response_param_name,
        dependant.background_tasks_param_name, dependant.security_scopes_param_name,
    )  # fmt: skip
    if any(name is not None for name in specials):
        return "request, response or background-task parameters"
    for sub in dependant.dependencies:
        if sub.call is not current_user and sub.call is not get_context:
            return f"the dependency {getattr(sub.call, '__name__', sub.call)!r}"
    return None


class FastPath:
    """ASGI middleware: answers ``routes`` itself when it can (see the module's notes)."""

    def __init__(self, app: ASGIApp, routes: Iterable[BaseRoute]) -> None:
        self.app = app
        self.answered = 0
        """Requests to its routes it answered itself..."""
        self.passed_on = 0
        """... and those it left to FastAPI."""
        self._plans: dict[tuple[str, str], _Plan] = {}
        for route in routes:
            if not isinstance(route, APIRoute):
                raise NotFastError(f"{route}: the fast path takes only FastAPI's API routes")
            plan = _Plan.of(route)
            for method in route.methods or ():
                self._plans[(method, route.path)] = plan

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        plan = self._plans.get((scope.get("method", ""), scope.get("path", "")))
        if (
            plan is None
            or scope["type"] != "http"
            or (plan.reads_query and scope["query_string"])
            or scope["app"].dependency_overrides
        ):
            if plan is not None:
                self.passed_on += 1
            await self.app(scope, receive, send)
            return
        try:
            body = await _read_body(receive) if plan.body is not None else b""
        except Exception as error:  # noqa: BLE001 - e.g. a body over the limit: as FastAPI does
            self.answered += 1
            await (await _handled(scope, error))(scope, receive, send)
            return
        if await self._answer(plan, scope, body, receive, send):
            self.answered += 1
        else:
            self.passed_on += 1
            replayed = _replay(body, receive) if plan.body is not None else receive
            await self.app(scope, replayed, send)

    async def _answer(
        self, plan: _Plan, scope: Scope, body: bytes, receive: Receive, send: Send
    ) -> bool:
        """Answer the request and return True, or False (nothing sent) for FastAPI to."""
        values = await _arguments(plan, scope, body)
        if values is None:
            return False
        scope["route"] = plan.route  # what the metrics label requests with
        try:
            result = await plan.call(**values)
            response = result if isinstance(result, Response) else self._render(plan, result)
        except Exception as error:  # noqa: BLE001 - the app's own handlers answer it
            response = await _handled(scope, error)
        await response(scope, receive, send)
        return True

    @staticmethod
    def _render(plan: _Plan, result: Any) -> Response:
        route = plan.route
        field = route.response_field
        assert field is not None
        value, errors = field.validate(result, {}, loc=("response",))
        if errors:  # a bug of ours: FastAPI raises too (a 500)
            from fastapi.exceptions import ResponseValidationError  # noqa: PLC0415

            raise ResponseValidationError(errors=errors, body=result)
        content = field.serialize_json(
            value,
            include=route.response_model_include,
            exclude=route.response_model_exclude,
            by_alias=route.response_model_by_alias,
            exclude_unset=route.response_model_exclude_unset,
            exclude_defaults=route.response_model_exclude_defaults,
            exclude_none=route.response_model_exclude_none,
        )
        return Response(content, plan.status_code, media_type="application/json")


async def _arguments(plan: _Plan, scope: Scope, body: bytes) -> dict[str, Any] | None:
    """The endpoint's arguments, or None when FastAPI should answer (see the module)."""
    if plan.header_names and any(name in plan.header_names for name, _ in scope["headers"]):
        return None
    values: dict[str, Any] = {}
    if plan.body is not None:
        document = _json_object(scope, body)
        if document is None:
            return None
        value, errors = plan.body.validate(document, {}, loc=("body",))
        if errors:
            return None
        values[plan.body_param] = value  # type: ignore[index]
    token = _bearer_token(scope)
    try:
        if token is not None:
            user = session_user(scope["app"].state.context, token)
        else:  # no bearer token: the cookie, as the dependency reads it
            user = await current_user(HTTPConnection(scope))  # type: ignore[arg-type]
    except Exception:  # noqa: BLE001 - no session or a refused one: FastAPI says which
        return None
    for name in plan.user_params:
        values[name] = user
    for name in plan.context_params:
        values[name] = scope["app"].state.context
    return values


def _bearer_token(scope: Scope) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, read as ``HTTPBearer``
    reads it (the first such header; the scheme in any case; the token stripped)."""
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            token = token.strip()
            return token if scheme.lower() == "bearer" and token else None
    return None


def _json_object(scope: Scope, body: bytes) -> dict[str, Any] | None:
    """The body as a JSON object when it plainly is one (``application/json``), else None."""
    if not body:
        return None
    for name, value in scope["headers"]:
        if name == b"content-type":
            media_type = value.partition(b";")[0].strip().lower()
            if media_type != b"application/json":
                return None
            break
    else:
        return None
    try:
        document = loads_exact(body)
    except (ValueError, UnicodeDecodeError):
        return None
    return document if isinstance(document, dict) else None


async def _handled(scope: Scope, error: Exception) -> Response:
    """The response the app's exception handlers give ``error`` (as ``ExceptionMiddleware``
    would); anything they leave to the server-error handler is raised again."""
    handlers = scope["app"].exception_handlers
    for kind in type(error).__mro__:
        if kind is Exception:
            break
        handler = handlers.get(kind)
        if handler is not None:
            response: Response = await handler(Request(scope), error)
            return response
    raise error


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands FastAPI the body already read, then carries on as before."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
