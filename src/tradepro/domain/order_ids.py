"""Order ids: time-ordered UUIDs (RFC 9562 version 7) that carry their creation time.

An order id's first 48 bits are the Unix time in milliseconds at which it was made, the
next 4 the version (7), then 12 random bits, the variant (``10``) and 62 more random bits.
The engine reads that time to refuse ids it may have forgotten (``tradepro.engine.
order_window``), so it can promise that an id is never opened twice while keeping only a
bounded window of ids in memory. Pure functions: the caller brings the clock and the
randomness.
"""

from __future__ import annotations

RANDOM_BITS = 74
"""How many random bits an order id holds (12 after the version, 62 after the variant)."""


def new_order_id(unix_ms: int, random_bits: int) -> str:
    """The canonical string of the version 7 UUID made at ``unix_ms`` from ``random_bits``."""
    if not 0 <= unix_ms < 1 << 48:
        raise ValueError("unix_ms must fit in 48 bits")
    random_bits &= (1 << RANDOM_BITS) - 1
    value = (unix_ms << 80) | (0x7 << 76) | ((random_bits >> 62) << 64) | (0b10 << 62)
    value |= random_bits & ((1 << 62) - 1)
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def order_id_time_ms(order_id: str) -> int:
    """The creation time in ms of a version 7 UUID string; -1 for anything else.

    On the engine's hot path: a few string operations, no ``uuid.UUID``. Only the time's
    digits are checked: the bus decoder has already required the canonical lowercase form.
    """
    if len(order_id) != 36 or order_id[14] != "7" or order_id[19] not in "89ab":
        return -1
    head = order_id[:8] + order_id[9:13]
    # int() would also take "+", "_", spaces and non-ASCII digits: only plain hex here.
    if order_id[8] != "-" or not (head.isascii() and head.isalnum()):
        return -1
    try:
        return int(head, 16)
    except ValueError:  # a letter after "f"
        return -1
