"""What the subcommands share: argument types, the feed options, settings or exit 2."""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeAlias

from tradepro.feeds import FEEDS, Feed

if TYPE_CHECKING:
    from tradepro.config import Settings

Handler = Callable[[argparse.Namespace], int]
"""What a subcommand runs: its parsed arguments in, the process's exit code out."""

Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
"""Where each module adds its subcommands."""


def settings_or_exit() -> Settings:
    from tradepro.config import SettingsError, load_settings  # noqa: PLC0415

    try:
        return load_settings()
    except SettingsError as error:
        print(f"tradepro: {error}", file=sys.stderr)
        raise SystemExit(2) from None


def add_feed_options(parser: argparse.ArgumentParser) -> None:
    """``--feed``, ``--rate`` and ``--seed``: the same for ``poller`` and ``up``."""
    parser.add_argument(
        "--feed",
        choices=FEEDS,
        default=None,
        help="price source (default: TRADEPRO_FEED, else backpack, live at BACKPACK_WS_URL); "
        "sim is marked SIMULATED everywhere",
    )
    parser.add_argument(
        "--rate",
        type=positive_float,
        default=10.0,
        metavar="QUOTES_PER_S",
        help="--feed sim: quotes per second per asset (default: 10)",
    )
    parser.add_argument("--seed", type=int, default=None, help="--feed sim: random seed")


def feed_or_setting(args: argparse.Namespace, settings: Settings) -> Feed:
    """``--feed`` if given, else ``TRADEPRO_FEED``: a poller started on its own runs the feed
    the API tells people about. A live feed's URL is checked before anything starts."""
    feed: Feed = args.feed or settings.tradepro_feed
    if feed == "backpack":
        check_websocket_url(settings.backpack_ws_url)
    return feed


def check_websocket_url(url: str) -> None:
    from websockets.exceptions import InvalidURI  # noqa: PLC0415
    from websockets.uri import parse_uri  # noqa: PLC0415

    try:
        parse_uri(url)
    except InvalidURI:
        print(f"tradepro: BACKPACK_WS_URL must be a ws:// or wss:// URL, got {url!r}",
              file=sys.stderr)  # fmt: skip
        raise SystemExit(2) from None


def port_number(text: str) -> int:
    value = positive_int(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"must be a port number (1-65535), got {text!r}")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}")
    return value


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value
