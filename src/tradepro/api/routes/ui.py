"""The browser UI's settings route (the page and its files are ``tradepro.web``'s)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from tradepro.api.deps import Context
from tradepro.api.schemas import UiConfigOut
from tradepro.web.serve import CHART_LIBRARY

router = APIRouter()


@router.get("/api/v1/config", response_model=UiConfigOut, tags=["ui"])
async def ui_config(request: Request, context: Context) -> dict[str, object]:
    """What the browser UI needs to know: where live data comes from, when it is stale,
    and which price feed runs."""
    settings = context.settings
    host = request.url.hostname or "localhost"
    if ":" in host:  # an IPv6 literal goes back in brackets
        host = f"[{host}]"
    scheme = "wss" if request.url.scheme == "https" else "ws"
    return {
        "env": settings.tradepro_env,
        "wsUrl": f"{scheme}://{host}:{settings.ws_port}/",
        "staleAfterS": settings.max_price_age_s,
        "signInLinksLogged": settings.tradepro_env == "dev" and not settings.smtp_url,
        "chartLibrary": CHART_LIBRARY.is_file(),
        "feed": settings.tradepro_feed,
    }
