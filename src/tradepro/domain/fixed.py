"""Fixed-point numbers: integers with an explicit decimal scale.

A value ``v`` with ``decimals`` places is stored as the integer ``v * 10**decimals``.
Parsing never goes through ``float``; rendering gives exactly ``decimals`` places.
"""

from __future__ import annotations

from decimal import Decimal

USD_DECIMALS = 2
"""USD amounts are integers of cents."""

MAX_TEXT_LENGTH = 40
"""Longer numeric input is refused before any arithmetic (guards against huge inputs)."""

MAX_SCALED = 10**18
"""Largest scaled integer accepted from outside: fits a signed 64-bit column."""


POW10: tuple[int, ...] = tuple(10**exponent for exponent in range(64))
"""Powers of ten by exponent: exact ints, and cheaper than ``**`` on hot paths."""


class InvalidNumberError(ValueError):
    """A number from outside could not be taken exactly at the requested scale."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def parse_scaled(value: object, decimals: int, field: str, *, allow_zero: bool = False) -> int:
    """Parse a decimal string, an int or a ``Decimal`` into an integer scaled by ``decimals``.

    Rejects floats, booleans, NaN, infinities, negatives, zero (unless ``allow_zero``),
    values finer than ``10**-decimals`` and values too large for a 64-bit column.
    Trailing zeros beyond the scale are accepted: ``"1.50"`` at one decimal is ``15``.
    """
    if isinstance(value, str):
        scaled = _parse_text(value, decimals, field)
    elif isinstance(value, bool):
        raise InvalidNumberError(field, "must be a number, not a boolean")
    elif isinstance(value, int):
        scaled = value * POW10[decimals]
    elif isinstance(value, Decimal):
        scaled = _parse_decimal(value, decimals, field)
    else:
        raise InvalidNumberError(field, "must be a decimal string or an exact number")
    if scaled < 0:
        raise InvalidNumberError(field, "must not be negative")
    if scaled == 0 and not allow_zero:
        raise InvalidNumberError(field, "must be greater than zero")
    if scaled > MAX_SCALED:
        raise InvalidNumberError(field, "is too large")
    return scaled


def _parse_text(text: str, decimals: int, field: str) -> int:
    if len(text) > MAX_TEXT_LENGTH:
        raise InvalidNumberError(field, "is too long")
    sign = 1
    body = text
    if body[:1] == "-":
        sign, body = -1, body[1:]
    whole, dot, fraction = body.partition(".")
    if not _is_digits(whole) or (dot and not _is_digits(fraction)):
        raise InvalidNumberError(field, f"is not a decimal number: {text!r}")
    significant = fraction.rstrip("0")
    if len(significant) > decimals:
        raise InvalidNumberError(field, f"has more than {decimals} decimal places")
    return sign * (int(whole) * POW10[decimals] + int(significant.ljust(decimals, "0") or "0"))


def _is_digits(text: str) -> bool:
    # str.isdigit() alone accepts '²' and other non-ASCII digits; int() accepts '_'.
    return text.isascii() and text.isdigit()


def _parse_decimal(value: Decimal, decimals: int, field: str) -> int:
    if not value.is_finite():
        raise InvalidNumberError(field, "must be a finite number")
    sign, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)  # finite Decimals have an int exponent
    text = "".join(map(str, digits)).rstrip("0")  # 0.10 is 0.1: trailing zeros carry nothing
    if not text:
        return 0
    exponent += len(digits) - len(text)
    if len(text) + exponent > MAX_TEXT_LENGTH:
        raise InvalidNumberError(field, "is too large")
    shift = exponent + decimals
    if shift < 0:  # the last digit is not 0, so it is finer than the scale
        raise InvalidNumberError(field, f"has more than {decimals} decimal places")
    scaled = int(text) * POW10[shift]
    return -scaled if sign else scaled


def format_scaled(value: int, decimals: int) -> str:
    """Render a scaled integer as a decimal string with exactly ``decimals`` places."""
    digits = str(abs(value))
    sign = "-" if value < 0 else ""
    if decimals == 0:
        return sign + digits
    digits = digits.rjust(decimals + 1, "0")
    return f"{sign}{digits[:-decimals]}.{digits[-decimals:]}"


def ceil_div(numerator: int, denominator: int) -> int:
    """Exact ceiling of ``numerator / denominator`` for a positive denominator."""
    return -(-numerator // denominator)


def div_round_half_even(numerator: int, denominator: int) -> int:
    """Exact ``numerator / denominator`` rounded half to even (banker's rounding).

    ``denominator`` must be positive; works for negative numerators because ``divmod``
    floors and leaves a non-negative remainder.
    """
    quotient, remainder = divmod(numerator, denominator)
    twice = 2 * remainder
    if twice > denominator or (twice == denominator and quotient & 1):
        return quotient + 1
    return quotient
