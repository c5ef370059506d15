"""The API app on the embedded default with no engine: for what it decides on its own.

Validation, authentication and error shapes are settled before a request reaches the
engine. No engine runs here, and the requester's timeout is cut to a fraction of a second,
so a request that wrongly gets through shows up at once as a 504 instead of a 422.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from fastapi import FastAPI

from tradepro.api.app import create_app
from tradepro.api.context import ApiContext
from tradepro.config import Settings
from tradepro.db.migrate import upgrade
from tradepro.security.tokens import SESSION, issue

SECRET = "unit-api-jwt-secret-0123456789abcdef0123456789"  # noqa: S105 (a test secret)


@dataclass
class Api:
    app: FastAPI
    client: httpx.AsyncClient
    settings: Settings
    user_id: str
    token: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    @property
    def context(self) -> ApiContext:
        context: ApiContext = self.app.state.context
        return context


def unit_settings(data_dir: Path) -> Settings:
    return Settings(
        tradepro_env="dev",
        redis_url=None,
        database_url=None,
        tradepro_data_dir=data_dir,
        jwt_secret=SECRET,
        public_url="http://tradepro.test",
        smtp_url=None,
        assets=("BTC_USDC", "ETH_USDC", "SOL_USDC"),
    )


@asynccontextmanager
async def running_api(tmp_path: Path, *, fast_path: bool = True) -> AsyncIterator[Api]:
    settings = unit_settings(tmp_path)
    tmp_path.mkdir(parents=True, exist_ok=True)
    await upgrade(settings.effective_database_url)  # as ``tradepro api`` does at start
    app = create_app(settings, fast_path=fast_path)
    async with app.router.lifespan_context(app):
        context: ApiContext = app.state.context
        context.requester.timeout_s = 0.3
        user_id = str(uuid.uuid4())
        token, _ = issue(SECRET, SESSION, user_id, "unit@example.com", 600)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield Api(app, client, settings, user_id, token)
