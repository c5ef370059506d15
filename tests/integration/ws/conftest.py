"""The WebSocket tests' fixtures live in ``ws_fixtures`` so that the security suite shares
them."""

from ws_fixtures import bus, engine, redis_env, requester, ws_server

__all__ = ["bus", "engine", "redis_env", "requester", "ws_server"]
