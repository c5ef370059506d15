"""One price slot, in one process: what the fan-out costs the server per client.

``--clients`` (2,500: one of two ws processes' share of 5,000) real TCP connections over
the loopback, on uvloop when installed, each wrapped in the ws server's own ``Client`` and
subscribed through its ``Hub`` to the price channels of ``--assets`` (the three assets by
default). Then ``--slots`` times: a new quote of each asset is made the latest and one
price slot is sent (``Hub._price_slot``, as the slot timer calls it), the CPU time of the
call measured; between slots the loop runs, so the connections' other ends drain what
they got. The kernel's loopback write (its receiving half included: the other end is on
the same machine) is counted in the slot; the reading ends' own work is not.

``--null-writes`` replaces each connection's transport with one whose ``write`` does
nothing: what is left is the hub's and the ``Client``'s own Python.

Last line: JSON with ``cpu_us_per_client_slot`` (CPU per client per slot, the lower the
better) and ``slot_ms`` (the mean wall time of one slot). Usage (from the repository
root)::

    .venv/bin/python bench/ws_slot.py
    .venv/bin/python bench/ws_slot.py --assets BTC_USDC --null-writes
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import time
from collections.abc import Sequence
from typing import Any

import orjson
from websockets.protocol import State

from _common import say
from tradepro.services.ws.clients import Client, outgoing
from tradepro.services.ws.hub import Hub
from tradepro.services.ws.messages import PRICES_PREFIX


class Drain(asyncio.Protocol):
    """The other end of a connection: reads and forgets."""

    def data_received(self, data: bytes) -> None:
        pass


class Accepted(asyncio.Protocol):
    """The server's end: its transport is what the ``Client`` writes to."""

    def __init__(self, accepted: list[asyncio.WriteTransport]) -> None:
        self.accepted = accepted

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.accepted.append(transport)  # type: ignore[arg-type]


class NullTransport(asyncio.WriteTransport):
    def write(self, data: bytes | bytearray | memoryview) -> None:
        pass

    def get_write_buffer_size(self) -> int:
        return 0


class Peer:
    """What a ``Client`` needs of a connection: always open here."""

    def __init__(self, transport: asyncio.WriteTransport) -> None:
        self.transport = transport
        self.state = State.OPEN

    async def send(self, message: bytes, /, *, text: bool | None = None) -> None:
        self.transport.write(message)

    async def close(self, code: int = 1000, reason: str = "") -> None:
        pass


def quote(asset: str, n: int) -> bytes:
    """A price message the size of the server's own."""
    return orjson.dumps(
        {"type": "price", "asset": asset, "bid": "100000.00", "ask": "100000.05",
         "mid": "100000.025", "spread": "0.05", "ts": f"2026-01-01T00:00:00.{n % 1000:03d}Z",
         "simulated": False}
    )  # fmt: skip


async def measure(clients: int, assets: Sequence[str], slots: int, *, null: bool) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    accepted: list[asyncio.WriteTransport] = []
    server = await loop.create_server(lambda: Accepted(accepted), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    drains = [await loop.create_connection(Drain, "127.0.0.1", port) for _ in range(clients)]
    while len(accepted) < clients:
        await asyncio.sleep(0.01)
    hub = Hub(close_timeout_s=1.0, price_rate_per_s=1e9)
    writers = []
    for transport in accepted:
        client = Client(Peer(NullTransport() if null else transport), 256, hub.latest_prices)
        hub.join(client)
        hub.subscribe(client, [PRICES_PREFIX + asset for asset in assets])
        writers.append(asyncio.create_task(client.write_forever()))
    await asyncio.sleep(0.1)  # every writer waits for work: the direct write is open
    cpu_s = wall_s = 0.0
    for n in range(slots):
        for asset in assets:
            hub.latest_prices[asset] = outgoing(quote(asset, n))
            hub._changed.add(asset)  # (private: a slot of exactly these quotes)
        cpu_before, wall_before = time.process_time(), time.perf_counter()
        hub._price_slot()
        cpu_s += time.process_time() - cpu_before
        wall_s += time.perf_counter() - wall_before
        await asyncio.sleep(0.02)  # the other ends read
    for writer in writers:
        writer.cancel()
    await asyncio.gather(*writers, return_exceptions=True)
    for transport, _ in drains:
        transport.close()
    server.close()
    return {
        "clients": clients,
        "assets": len(assets),
        "slots": slots,
        "null_writes": null,
        "slot_ms": round(wall_s / slots * 1e3, 2),
        "cpu_us_per_client_slot": round(cpu_s / slots / clients * 1e6, 2),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=2500)
    parser.add_argument("--assets", default="BTC_USDC,ETH_USDC,SOL_USDC")
    parser.add_argument("--slots", type=int, default=60)
    parser.add_argument("--null-writes", action="store_true")
    args = parser.parse_args(argv)
    assets = sorted({asset.strip() for asset in args.assets.split(",") if asset.strip()})
    if not assets or args.clients < 1 or args.slots < 1:
        parser.error("--assets, --clients and --slots must not be empty or zero")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, 2 * args.clients + 64)), hard))
    try:
        import uvloop  # noqa: PLC0415 - as the ws server runs where it is installed
    except ImportError:
        results = asyncio.run(measure(args.clients, assets, args.slots, null=args.null_writes))
    else:
        results = uvloop.run(measure(args.clients, assets, args.slots, null=args.null_writes))
    say(f"{results['cpu_us_per_client_slot']} µs of CPU per client per slot, "
        f"{results['slot_ms']} ms per slot")  # fmt: skip
    print(json.dumps(results), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
