from decimal import ROUND_CEILING, ROUND_HALF_EVEN, Context, Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tradepro.domain.fixed import (
    MAX_SCALED,
    InvalidNumberError,
    ceil_div,
    div_round_half_even,
    format_scaled,
    parse_scaled,
)


@pytest.mark.parametrize(
    ("value", "decimals", "expected"),
    [
        ("95000.5", 1, 950005),
        ("95000", 1, 950000),
        ("95000.50", 1, 950005),  # trailing zeros beyond the scale are exact
        ("0.00001", 5, 1),
        ("1", 0, 1),
        (7, 2, 700),
        (Decimal("0.10"), 2, 10),
        (Decimal("1E+2"), 1, 1000),
        (Decimal("1.2300"), 2, 123),
        ("0.1", 1, 1),
    ],
)
def test_parse_exact(value: object, decimals: int, expected: int) -> None:
    assert parse_scaled(value, decimals, "x") == expected


@pytest.mark.parametrize(
    ("value", "decimals", "fragment"),
    [
        ("0.05", 1, "more than 1 decimal"),
        (Decimal("0.000001"), 5, "more than 5 decimal"),
        ("0", 2, "greater than zero"),
        (0, 2, "greater than zero"),
        ("-1", 2, "negative"),
        (-3, 2, "negative"),
        (Decimal("-0.5"), 2, "negative"),
        (1.5, 2, "decimal string or an exact number"),
        (True, 2, "boolean"),
        (None, 2, "decimal string or an exact number"),
        (Decimal("NaN"), 2, "finite"),
        (Decimal("Infinity"), 2, "finite"),
        ("NaN", 2, "not a decimal number"),
        ("inf", 2, "not a decimal number"),
        ("1e5", 2, "not a decimal number"),
        ("1_000", 2, "not a decimal number"),
        ("١٢", 2, "not a decimal number"),  # Arabic-Indic digits pass str.isdigit()
        ("²", 2, "not a decimal number"),
        (" 1", 2, "not a decimal number"),
        ("", 2, "not a decimal number"),
        (".5", 2, "not a decimal number"),
        ("5.", 2, "not a decimal number"),
        ("1" * 41, 0, "too long"),
        (Decimal("1E+100000"), 2, "too large"),
        (Decimal("1E-100000"), 2, "more than 2 decimal"),
        (10**19, 0, "too large"),
    ],
)
def test_parse_rejects(value: object, decimals: int, fragment: str) -> None:
    with pytest.raises(InvalidNumberError) as caught:
        parse_scaled(value, decimals, "qty")
    assert caught.value.field == "qty"
    assert fragment in caught.value.message


def test_zero_allowed_when_asked() -> None:
    assert parse_scaled("0", 0, "slippage", allow_zero=True) == 0


@pytest.mark.parametrize(
    ("value", "decimals", "text"),
    [(950005, 1, "95000.5"), (1, 5, "0.00001"), (-960, 2, "-9.60"), (0, 2, "0.00"), (42, 0, "42")],
)
def test_format(value: int, decimals: int, text: str) -> None:
    assert format_scaled(value, decimals) == text


@given(st.integers(min_value=1, max_value=MAX_SCALED), st.integers(min_value=0, max_value=12))
def test_format_parse_round_trip(value: int, decimals: int) -> None:
    assert parse_scaled(format_scaled(value, decimals), decimals, "x") == value
    assert parse_scaled(Decimal(format_scaled(value, decimals)), decimals, "x") == value


@pytest.mark.parametrize(
    ("numerator", "denominator", "expected"),
    [(5, 10, 0), (15, 10, 2), (25, 10, 2), (-5, 10, 0), (-15, 10, -2), (-25, 10, -2),
     (14, 10, 1), (16, 10, 2), (-14, 10, -1), (-16, 10, -2), (0, 7, 0)],
)  # fmt: skip
def test_round_half_even(numerator: int, denominator: int, expected: int) -> None:
    assert div_round_half_even(numerator, denominator) == expected


@given(st.integers(-(10**30), 10**30), st.integers(1, 10**12))
def test_rounding_matches_decimal(numerator: int, denominator: int) -> None:
    context = Context(prec=100)
    exact = context.divide(Decimal(numerator), Decimal(denominator))
    assert div_round_half_even(numerator, denominator) == int(
        exact.quantize(Decimal(1), rounding=ROUND_HALF_EVEN, context=context)
    )
    assert ceil_div(numerator, denominator) == int(
        exact.quantize(Decimal(1), rounding=ROUND_CEILING, context=context)
    )
