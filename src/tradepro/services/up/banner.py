"""The banner ``tradepro up`` prints once everything is healthy: where to go, what runs.

Pure text from the settings. URLs of servers are shown without credentials (a password in
``DATABASE_URL`` or ``REDIS_URL`` never reaches the terminal or a log).
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from tradepro.bus.factory import EMBEDDED_BUS_FILE
from tradepro.config import Settings
from tradepro.runtime.urls import bracketed, without_credentials
from tradepro.services.up.plan import UpOptions

RULE = "=" * 72


def ui_url(settings: Settings) -> str:
    """Where users open the UI: ``PUBLIC_URL`` when set, else this machine's API port."""
    if "public_url" in settings.model_fields_set:
        return settings.public_url.rstrip("/")
    return f"http://localhost:{settings.api_port}"


def websocket_url(settings: Settings) -> str:
    """The WebSocket server as the UI reaches it: the page's host name at ``WS_PORT``."""
    parts = urlsplit(ui_url(settings))
    scheme = "wss" if parts.scheme == "https" else "ws"
    return f"{scheme}://{bracketed(parts.hostname or 'localhost')}:{settings.ws_port}/"


def describe_bus(settings: Settings) -> str:
    if settings.redis_url:
        return f"Redis at {without_credentials(settings.redis_url)}"
    return f"embedded SQLite at {_absolute(settings.tradepro_data_dir / EMBEDDED_BUS_FILE)}"


def describe_database(settings: Settings) -> str:
    url = settings.database_url
    if not url:
        return f"embedded SQLite at {_absolute(settings.sqlite_path)}"
    parts = urlsplit(url)
    if parts.scheme.startswith("postgresql"):
        server = without_credentials(url).split("://", 1)[1]
        return f"PostgreSQL at {server}"
    if parts.scheme.startswith("sqlite"):
        return f"SQLite at {url.split(':///', 1)[-1]}"
    return without_credentials(url)


def describe_feed(settings: Settings, options: UpOptions) -> str:
    if options.feed == "backpack":
        url = without_credentials(settings.backpack_ws_url)
        return f"Backpack market prices from {url} (connecting; the poller says if it cannot)"
    seed = f"seed {options.seed}" if options.seed is not None else "its seed in the poller's log"
    return (
        f"SIMULATED: not real prices (seeded random walk, {seed}, "
        f"{options.sim_rate_per_s:g} quotes/s per asset)"
    )


def render_banner(settings: Settings, options: UpOptions, healthy_after_s: float) -> str:
    """The block printed when the api answers with the engine and the ws port is open."""
    base = ui_url(settings)
    rows = [
        ("UI", f"{base}/"),
        ("API docs", f"{base}/docs"),
        ("WebSocket", websocket_url(settings)),
        ("Health", f"{base}/health"),
        ("Bus", describe_bus(settings)),
        ("Database", describe_database(settings)),
        ("Feed", describe_feed(settings, options)),
        ("Data folder", str(_absolute(settings.tradepro_data_dir))),
        ("Assets", ", ".join(settings.assets)),
    ]
    width = max(len(label) for label, _ in rows)
    lines = [
        RULE,
        f"  TradePro is up: api, ws, engine and poller (healthy after {healthy_after_s:.1f} s)",
        "",
        *(f"    {label:<{width}}  {value}" for label, value in rows),
        "",
        "  Ctrl-C to stop (a second Ctrl-C forces it).",
        RULE,
    ]
    return "\n".join(lines)


def _absolute(path: Path) -> Path:
    return path.expanduser().resolve()
