"""``tradepro ws``: the WebSocket server (the protocol: docs/websocket.md).

Live prices to everyone, order events to their owner. One task follows ``engine-stream``
from its tail and one ``Requester`` subscription follows ``callback-queue``; each message is
serialized once and queued, as the same bytes, for every subscribed client. Each client has
a bounded queue drained by one writer task, so a slow client is closed (1013) instead of
slowing the others.
"""

from tradepro.services.ws.server import Gateway, GatewayOptions, serve_ws

__all__ = ["Gateway", "GatewayOptions", "serve_ws"]
