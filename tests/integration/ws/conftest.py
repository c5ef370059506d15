"""The WebSocket tests' fixtures live in ``ws_fixtures`` so that the security suite shares
them."""

from ws_fixtures import bus, database_url, engine, redis_env, requester, ws_server

__all__ = ["bus", "database_url", "engine", "redis_env", "requester", "ws_server"]
