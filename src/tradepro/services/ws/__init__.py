"""``tradepro ws``: the WebSocket server (the protocol: docs/websocket.md).

Live prices to everyone, order events to their owner. One task follows ``engine-stream``
from its tail and one ``Requester`` subscription follows ``callback-queue``; each message is
serialized once and sent, as the same bytes, to every subscribed client. Prices are
conflated (the latest quote per asset, at most ``WS_PRICE_RATE_PER_S`` a second: ``hub.py``);
order events go through each client's bounded queue, drained by one writer task, so a
client that does not read them is closed (1013) instead of slowing the others. Several
processes may share the port (``WS_PROCESSES``), each reading the bus itself.
"""

from tradepro.services.ws.server import Gateway, GatewayOptions, serve_ws

__all__ = ["Gateway", "GatewayOptions", "serve_ws"]
