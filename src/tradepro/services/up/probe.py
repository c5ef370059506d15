"""Small network probes for ``tradepro up``: is a service ready (its health path answers
200, or its port is open), is a port held by some other program. Standard library only:
``up`` needs no HTTP client for one status line."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket

from tradepro.services.up.plan import ServiceSpec

LOCALHOST = "127.0.0.1"


async def http_status(port: int, path: str, timeout_s: float = 2.0) -> int | None:
    """The status code of ``GET http://127.0.0.1:port/path``, or None if nothing answers."""
    writer: asyncio.StreamWriter | None = None
    try:
        async with asyncio.timeout(timeout_s):
            reader, writer = await asyncio.open_connection(LOCALHOST, port)
            request = f"GET {path} HTTP/1.0\r\nHost: {LOCALHOST}:{port}\r\n\r\n"
            writer.write(request.encode("ascii"))
            await writer.drain()
            status_line = await reader.readline()
    except (OSError, TimeoutError):
        return None
    finally:
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
    parts = status_line.split()
    if len(parts) >= 2 and parts[0].startswith(b"HTTP/") and parts[1].isdigit():
        return int(parts[1])
    return None


async def accepts_connections(port: int, timeout_s: float = 1.0) -> bool:
    """Whether something listens on ``127.0.0.1:port``."""
    try:
        async with asyncio.timeout(timeout_s):
            _, writer = await asyncio.open_connection(LOCALHOST, port)
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


def port_taken(port: int, *, shared: bool = False) -> bool:
    """Whether another program listens on ``port`` (all addresses, as the services bind).

    ``SO_REUSEADDR`` as the servers set it, so connections of a service that just ended
    (``TIME_WAIT``) do not count: only a listening socket does. ``shared``: the port is
    one that several of our processes listen on with ``SO_REUSEPORT``; the probe sets it
    too, so their sockets do not count, a program's that does not share it does.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if shared:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        try:
            probe.bind(("0.0.0.0", port))  # noqa: S104 (the address the services listen on)
        except OSError as error:
            return error.errno == errno.EADDRINUSE
    return False


async def readiness(spec: ServiceSpec) -> str | None:
    """None when ``spec``'s port accepts connections (and its health path answers 200),
    else what it is waiting for. (Of processes that share a port, whichever listens first
    answers for all: a connection only ever reaches one that listens.)"""
    assert spec.port is not None
    if spec.health_path is None:
        if await accepts_connections(spec.port):
            return None
        return f"{spec.name} (port {spec.port} not open yet)"
    status = await http_status(spec.port, spec.health_path)
    if status == 200:
        return None
    if status is None:
        return f"{spec.name} (port {spec.port} not answering yet)"
    return f"{spec.name} ({spec.health_path} {status}: {spec.unhealthy_means})"
