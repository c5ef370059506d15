"""The API serves the browser UI at ``/`` without taking any other path, and tells the page
where its live data comes from."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import httpx

from tests.support.api_app import Api
from tradepro.web.serve import CHART_LIBRARY, STATIC_DIR


async def test_the_page_is_served_at_the_root_with_a_strict_policy(api: Api) -> None:
    response = await api.client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert '<script type="module" src="/static/js/main.js"></script>' in response.text
    policy = response.headers["content-security-policy"]
    assert "default-src 'self'" in policy
    assert "script-src" not in policy  # scripts fall back to 'self': no inline scripts
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["referrer-policy"] == "no-referrer"


async def test_static_files_are_served_and_missing_ones_are_json_404s(api: Api) -> None:
    script = await api.client.get("/static/js/main.js")
    assert script.status_code == 200
    assert "javascript" in script.headers["content-type"]
    style = await api.client.get("/static/css/app.css")
    assert style.status_code == 200
    assert style.headers["content-type"].startswith("text/css")
    missing = await api.client.get("/static/js/nothing.js")
    assert missing.status_code == 404
    assert missing.json()["error"] == "not_found"
    escape = await api.client.get("/static/%2e%2e/serve.py")  # no way out of the folder
    assert escape.status_code == 404


async def test_the_other_routes_still_answer_as_before(api: Api) -> None:
    client = api.client
    unknown = await client.get("/api/v1/no/such/route")
    assert unknown.status_code == 404
    assert unknown.json() == {"error": "not_found", "message": "Not Found"}
    assert (await client.post("/api/v1/trade/get-open-orders")).status_code == 405
    assert (await client.get("/docs")).status_code == 200
    assert (await client.get("/metrics")).status_code == 200
    assert (await client.get("/health")).status_code == 503  # no engine runs here
    assert (await client.get("/api/v1/balance/me")).json()["error"] == "unauthorized"
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert {"/api/v1/candles", "/api/v1/instruments", "/api/v1/config"} <= set(paths)
    assert "/" not in paths and not any(path.startswith("/static") for path in paths)


async def test_config_points_the_page_at_the_websocket_on_its_own_host(api: Api) -> None:
    response = await api.client.get("/api/v1/config")
    assert response.status_code == 200
    assert response.json() == {
        "env": "dev",
        "wsUrl": "ws://testserver:8080/",
        "staleAfterS": 10.0,
        "signInLinksLogged": True,
        "chartLibrary": CHART_LIBRARY.is_file(),
        "feed": "backpack",
    }
    transport = httpx.ASGITransport(app=api.app)
    async with httpx.AsyncClient(transport=transport, base_url="https://[::1]:4000") as secure:
        assert (await secure.get("/api/v1/config")).json()["wsUrl"] == "wss://[::1]:8080/"


class _Form(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.controls: list[str] = []
        self.labelled: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag in ("input", "select", "textarea"):
            self.controls.append(found.get("id") or f"<{tag} without id>")
        if tag == "label" and found.get("for"):
            self.labelled.add(str(found["for"]))


def test_every_form_control_has_a_label() -> None:
    form = _Form()
    form.feed((STATIC_DIR / "index.html").read_text())
    assert len(form.controls) >= 9
    assert [control for control in form.controls if control not in form.labelled] == []


def test_every_module_the_page_imports_exists() -> None:
    """No bundler checks the imports, so this does: each ``from "./x.js"`` is a file."""
    scripts = STATIC_DIR / "js"
    imports = {
        (module.name, target)
        for module in scripts.glob("*.js")
        for target in re.findall(r'from "\./([^"]+)"', module.read_text())
    }
    assert imports
    assert [pair for pair in imports if not (scripts / pair[1]).is_file()] == []


async def test_the_docs_page_loads_only_its_own_pinned_assets(api: Api) -> None:
    page = await api.client.get("/docs")
    assert page.status_code == 200
    sources = re.findall(r"""(?:src|href)=["']([^"']+)""", page.text)
    sources += re.findall(r"""url: ?["']([^"']+)""", page.text)
    assert "/docs-assets/swagger-ui-bundle.js" in sources
    assert "/docs-assets/swagger-ui.css" in sources
    assert [source for source in sources if "//" in source] == []  # nothing from elsewhere
    assert "cdn" not in page.text and "validatorUrl" in page.text
    policy = page.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "img-src 'self' data:" in policy
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css", "favicon.png"):
        response = await api.client.get(f"/docs-assets/{asset}")
        assert response.status_code == 200, asset
        assert len(response.content) > 1000, asset
    assert (await api.client.get("/redoc")).status_code == 404  # not served (see docs_pages)
