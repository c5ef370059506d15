"""The API's documentation page, ``/docs`` (Swagger UI), offline.

FastAPI's own page loads its script and style from a CDN, so without internet it was
blank. Here the same page loads them from ``/docs-assets/``: the Swagger UI build shipped
inside the ``fastapi-offline`` package (pinned in pyproject.toml; only its files are used,
not its code). A Content-Security-Policy allowing only this origin keeps the page from
reaching anywhere else.

ReDoc is not served: its bundle loads its logo from its vendor's CDN whatever the page
says, and Swagger UI already shows every operation.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS_DIR = Path(str(files("fastapi_offline") / "static"))
ASSETS_PATH = "/docs-assets"
DOCS_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self' 'unsafe-inline'; "
        "style-src 'self' 'unsafe-inline'; img-src 'self' data:; object-src 'none'; "
        "base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
}
"""The page starts its bundle with an inline script (FastAPI's page template); nothing may
load from another origin."""


def install_docs(app: FastAPI) -> None:
    """Serve ``/docs`` and its assets; create ``app`` with ``docs_url=None`` and
    ``redoc_url=None`` so FastAPI's CDN pages are not registered."""
    app.mount(ASSETS_PATH, StaticFiles(directory=ASSETS_DIR), name="docs-assets")
    openapi_url = app.openapi_url or "/openapi.json"

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        page = get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{app.title} API",
            swagger_js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS_PATH}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS_PATH}/favicon.png",
            # No badge from the public validator (an image from another site, on any host
            # but localhost).
            swagger_ui_parameters={"validatorUrl": None},
        )
        page.headers.update(DOCS_HEADERS)
        return page


__all__ = ["install_docs"]
