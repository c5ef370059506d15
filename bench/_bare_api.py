"""The baseline for ``api_load.py``: one authenticated FastAPI endpoint, nothing behind it.

Same framework and framework settings (``NO_TELEMETRY``), same JWT check
(``tradepro.api.deps.current_user``), same server settings; the difference to the real API
is the trading work (bus round trip to the engine).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import SimpleNamespace

from fastapi import FastAPI

from tradepro.api.app import NO_TELEMETRY
from tradepro.api.deps import CurrentUser
from tradepro.config import Settings
from tradepro.security.tokens import SessionVerifier


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    secret = os.environ["JWT_SECRET"]
    app.state.context = SimpleNamespace(
        settings=Settings(jwt_secret=secret), sessions=SessionVerifier(secret)
    )
    yield


app = FastAPI(lifespan=lifespan, telemetry=NO_TELEMETRY)


@app.post("/bare")
async def bare(user: CurrentUser) -> dict[str, str]:
    return {"orderId": user.id, "status": "ok"}
