"""The security suite: attacks that once worked (or could), kept running against the real
stack. It shares the fixtures of the API and WebSocket integration tests."""

import sys
from pathlib import Path

_INTEGRATION = Path(__file__).resolve().parents[1] / "integration"
for _folder in ("api", "ws"):
    if str(_INTEGRATION / _folder) not in sys.path:
        sys.path.insert(0, str(_INTEGRATION / _folder))

from api_fixtures import embedded, smtp, stack  # noqa: E402
from ws_fixtures import bus, database_url, engine, redis_env, requester, ws_server  # noqa: E402

__all__ = [
    "bus",
    "database_url",
    "embedded",
    "engine",
    "redis_env",
    "requester",
    "smtp",
    "stack",
    "ws_server",
]
