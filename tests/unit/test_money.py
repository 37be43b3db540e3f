"""Money: the published billing examples, half-up rounding to the ISO 4217 minor unit, and the
bookkeeping identity Σ invoice totals = Σ payouts + Σ platform fees."""

from __future__ import annotations

import json
import os
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from audiens.domain.money import (
    CURRENCY_MINOR_UNITS,
    cpm_amount,
    discounted_price,
    flat_fee_amount,
    format_money,
    format_price,
    from_minor_units,
    minor_units,
    parse_discount_pct,
    parse_price,
    parse_revenue_share,
    round_money,
    split_revenue,
    to_minor_units,
)
from audiens.errors import ValidationError


def _testdata_dir() -> Path:
    shared = os.environ.get("AUDIENS_SHARED_DIR")
    return (Path(shared) if shared else Path(__file__).resolve().parents[3] / "shared") / "testdata"


EXAMPLES: dict[str, Any] = json.loads((_testdata_dir() / "attribution_examples.json").read_text(encoding="utf-8"))

currencies = st.sampled_from(sorted(CURRENCY_MINOR_UNITS))


def amounts(currency: str, max_units: int = 10**12) -> st.SearchStrategy[Decimal]:
    """Amounts already rounded to the minor unit of ``currency`` (what invoice lines hold)."""
    return st.integers(min_value=0, max_value=max_units).map(lambda units: from_minor_units(units, currency))


def reference_round(value: Fraction, places: int) -> Fraction:
    """Half-up (ties away from zero) computed with exact fractions, independent of decimal."""
    scaled = abs(value) * 10**places
    whole = int(scaled)
    if scaled - whole >= Fraction(1, 2):
        whole += 1
    return Fraction(whole if value >= 0 else -whole, 10**places)


# --- published examples ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "example", EXAMPLES["money_examples"], ids=lambda e: f"{e['impressions']}@{e['cpm']}{e['currency']}"
)
def test_given_published_cpm_example_when_amount_computed_then_matches_guide(example: dict[str, Any]) -> None:
    # Given the impressions and the CPM of a published example
    price = parse_price(example["cpm"])
    # When the invoice line amount is computed
    amount = cpm_amount(example["impressions"], price, example["currency"])
    # Then it equals the published amount, digit for digit
    assert amount == Decimal(example["amount"])
    assert format_money(amount, example["currency"]) == example["amount"]


def test_given_flat_fee_subscribed_mid_month_when_billed_then_full_fee() -> None:
    example = EXAMPLES["flat_fee_example"]
    # Given a flat-fee plan subscribed on the 17th (the amount takes no date: it cannot be prorated)
    assert example["subscribed_on_day"] > 1
    # When the line is computed without discount
    amount = flat_fee_amount(parse_price(example["monthly_fee"]), Decimal(0), "USD")
    # Then the full monthly fee is billed
    assert format_money(amount, "USD") == example["amount"]


def test_given_buyer_discount_when_applied_to_every_plan_then_prices_match_guide() -> None:
    example = EXAMPLES["discount_example"]
    pct = parse_discount_pct(example["discount_pct"])
    for list_price, expected in zip(example["list_prices"], example["prices"], strict=True):
        # When the discount is applied to each list price
        price = discounted_price(parse_price(list_price), pct)
        # Then the discounted prices are the published ones
        assert price == Decimal(expected)
        assert format_price(price, "USD") == expected


def test_given_published_invoice_cases_when_lines_rounded_then_total_is_sum_of_rounded_lines() -> None:
    # Given the per-feed impressions of each published attribution case
    for case in EXAMPLES["cases"]:
        feeds = EXAMPLES["feeds"]
        lines = []
        for key, impressions in case["expected"]["impressions"].items():
            feed, use_case = key.split("/")
            price = parse_price(feeds[feed]["plans"][use_case]["price"])
            # When each line is computed and rounded once
            lines.append(cpm_amount(impressions, price, "USD"))
            assert format_money(lines[-1], "USD") == case["expected"]["amounts"][key]
        # Then the invoice total is the plain sum of the rounded lines
        assert format_money(sum(lines, Decimal(0)), "USD") == case["expected"]["invoice_total"]


# --- currencies -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("currency", "places"),
    [
        ("USD", 2),
        ("EUR", 2),
        ("GBP", 2),
        ("CHF", 2),
        ("CAD", 2),
        ("AUD", 2),
        ("JPY", 0),
        ("KRW", 0),
        ("KWD", 3),
        ("BHD", 3),
    ],
)
def test_given_iso_currency_when_minor_units_asked_then_iso_4217_places(currency: str, places: int) -> None:
    assert minor_units(currency) == places


@pytest.mark.parametrize("currency", ["XXX", "usd", "", "US", "EURO"])
def test_given_unknown_currency_when_used_then_unsupported_currency(currency: str) -> None:
    with pytest.raises(ValidationError) as caught:
        round_money(Decimal("1"), currency)
    assert caught.value.code == "unsupported_currency"
    assert caught.value.status == 422


# --- parsing ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [("0", "0"), ("2.00", "2.00"), ("0.35", "0.35"), ("150", "150"), ("0.000001", "0.000001"), ("007.5", "7.5")],
)
def test_given_plain_decimal_string_when_parsed_then_exact_decimal(text: str, expected: str) -> None:
    assert parse_price(text) == Decimal(expected)


@pytest.mark.parametrize(
    "text",
    ["", " 1", "1 ", "-1", "+1", "1e3", "1E-2", "NaN", "nan", "Infinity", "-Infinity", "1.2345678", "1,5", ".5", "1.",
     "1_000", "٣", "1" * 16, 1.5, 2, None, Decimal("1.5")],
)  # fmt: skip
def test_given_not_a_plain_price_when_parsed_then_invalid_price(text: object) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_price(text)
    assert caught.value.code == "invalid_price"


@pytest.mark.parametrize("text", ["-1", "100.01", "101", "abc", "1e1"])
def test_given_discount_outside_0_to_100_when_parsed_then_invalid_discount(text: str) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_discount_pct(text)
    assert caught.value.code == "invalid_discount"


@pytest.mark.parametrize("text", ["1.01", "2", "-0.1", "80%"])
def test_given_revenue_share_outside_0_to_1_when_parsed_then_invalid_revenue_share(text: str) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_revenue_share(text)
    assert caught.value.code == "invalid_revenue_share"


def test_given_revenue_share_string_when_parsed_then_decimal() -> None:
    assert parse_revenue_share("0.80") == Decimal("0.8")


# --- rounding ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        ("0.005", "USD", "0.01"),
        ("0.004999", "USD", "0.00"),
        ("2.675", "USD", "2.68"),  # a float would say 2.67
        ("2.665", "USD", "2.67"),  # half-up, not banker's rounding
        ("0.5", "JPY", "1"),
        ("1.5", "JPY", "2"),
        ("0.0005", "KWD", "0.001"),
        ("-0.005", "USD", "-0.01"),  # ties away from zero on credits too
    ],
)
def test_given_amount_on_half_boundary_when_rounded_then_half_up(amount: str, currency: str, expected: str) -> None:
    rounded = round_money(Decimal(amount), currency)
    assert rounded == Decimal(expected)
    assert str(rounded) == expected


def test_given_float_when_rounded_then_type_error() -> None:
    with pytest.raises(TypeError):
        round_money(0.1, "USD")  # type: ignore[arg-type]


@given(st.fractions(min_value=-(10**9), max_value=10**9, max_denominator=10**7), currencies)
def test_property_rounding_is_half_up_to_the_minor_unit(value: Fraction, currency: str) -> None:
    # Given any exact amount (as a Decimal with enough digits to be exact)
    decimal = Decimal(value.numerator) / Decimal(value.denominator)
    exact = Fraction(decimal)
    # When rounded by the one rounding function
    rounded = round_money(decimal, currency)
    # Then it equals half-up rounding computed independently, and is stable
    assert Fraction(rounded) == reference_round(exact, minor_units(currency))
    assert round_money(rounded, currency) == rounded


@given(st.integers(min_value=0, max_value=10**12), currencies, st.booleans())
def test_property_exact_half_unit_rounds_away_from_zero(units: int, currency: str, negative: bool) -> None:
    sign = -1 if negative else 1
    unit = Decimal(1).scaleb(-minor_units(currency))
    # Given an amount exactly half a minor unit past a whole number of minor units
    half = (from_minor_units(units, currency) + unit / 2) * sign
    # When rounded, then it moves away from zero
    assert to_minor_units(round_money(half, currency), currency) == (units + 1) * sign
    # And a hair closer to zero than the half, it moves towards zero
    assert to_minor_units(round_money(half - unit / 1000 * sign, currency), currency) == units * sign


# --- line amounts -----------------------------------------------------------------------------------


@given(
    st.integers(min_value=0, max_value=10**15),
    st.decimals(min_value=0, max_value=10**6, places=6, allow_nan=False, allow_infinity=False),
    currencies,
)
def test_property_cpm_amount_is_rounded_once_from_the_exact_product(
    impressions: int, price: Decimal, currency: str
) -> None:
    amount = cpm_amount(impressions, price, currency)
    assert Fraction(amount) == reference_round(Fraction(impressions) * Fraction(price) / 1000, minor_units(currency))


def test_given_discount_when_price_computed_then_not_rounded_before_the_line() -> None:
    # Given a 0.35 CPM with a 10 % discount
    price = discounted_price(Decimal("0.35"), Decimal("10"))
    # Then the unit price keeps its sub-cent digit
    assert price == Decimal("0.315")
    assert format_price(price, "USD") == "0.315"
    # And the line is rounded once: 1,500 impressions -> 0.4725 -> 0.47 (rounding the price first would give 0.48)
    assert cpm_amount(1500, price, "USD") == Decimal("0.47")


@pytest.mark.parametrize(("pct", "expected"), [("0", "2.00"), ("100", "0"), ("12.5", "1.75")])
def test_given_discount_bounds_when_applied_then_exact(pct: str, expected: str) -> None:
    assert discounted_price(Decimal("2.00"), Decimal(pct)) == Decimal(expected)


@pytest.mark.parametrize("pct", ["-0.01", "100.01", "NaN", "Infinity"])
def test_given_discount_out_of_range_when_applied_then_invalid_discount(pct: str) -> None:
    with pytest.raises(ValidationError) as caught:
        discounted_price(Decimal("2.00"), Decimal(pct))
    assert caught.value.code == "invalid_discount"


def test_given_flat_fee_with_discount_when_billed_then_rounded_once() -> None:
    assert flat_fee_amount(Decimal("1500.00"), Decimal("10"), "USD") == Decimal("1350.00")
    assert flat_fee_amount(Decimal("99.99"), Decimal("33.5"), "USD") == Decimal("66.49")  # 66.49335
    assert flat_fee_amount(Decimal("1001"), Decimal("50"), "JPY") == Decimal("501")  # 500.5 -> 501


# --- revenue split ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "share", "provider", "platform"),
    [
        ("3.69", "0.80", "2.95", "0.74"),
        ("0.01", "0.5", "0.01", "0.00"),  # half a cent goes to the provider (half-up)
        ("2482.76", "0.80", "1986.21", "496.55"),
        ("100.00", "1", "100.00", "0.00"),
        ("100.00", "0", "0.00", "100.00"),
    ],
)
def test_given_line_amount_when_split_then_provider_rounded_and_fee_is_complement(
    amount: str, share: str, provider: str, platform: str
) -> None:
    got = split_revenue(Decimal(amount), Decimal(share), "USD")
    assert tuple(format_money(part, "USD") for part in got) == (provider, platform)


def test_given_unrounded_amount_when_split_then_refused() -> None:
    with pytest.raises(ValueError, match="minor units"):
        split_revenue(Decimal("1.005"), Decimal("0.8"), "USD")


@pytest.mark.parametrize("share", ["1.01", "-0.1", "NaN"])
def test_given_share_out_of_range_when_split_then_invalid_revenue_share(share: str) -> None:
    with pytest.raises(ValidationError) as caught:
        split_revenue(Decimal("1.00"), Decimal(share), "USD")
    assert caught.value.code == "invalid_revenue_share"


@given(st.data(), currencies, st.decimals(min_value=0, max_value=1, places=4))
def test_property_split_revenue_complements_exactly(data: st.DataObject, currency: str, share: Decimal) -> None:
    amount = data.draw(amounts(currency))
    provider, platform = split_revenue(amount, share, currency)
    assert provider + platform == amount
    assert round_money(provider, currency) == provider and round_money(platform, currency) == platform
    assert Decimal(0) <= provider <= amount


@given(
    st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=10**9),
            st.decimals(min_value=0, max_value=1000, places=6),
            st.decimals(min_value=0, max_value=1, places=2),
        ),
        min_size=1,
        max_size=30,
    ),
    currencies,
)
def test_property_invoice_total_equals_payouts_plus_platform_fees(
    lines: list[tuple[int, Decimal, Decimal]], currency: str
) -> None:
    # Given invoice lines (impressions, unit price, the provider's revenue share)
    rounded = [cpm_amount(impressions, price, currency) for impressions, price, _ in lines]
    # When the total is the sum of the rounded lines and each line is split
    total = sum(rounded, Decimal(0))
    splits = [split_revenue(amount, share, currency) for amount, (_, _, share) in zip(rounded, lines, strict=True)]
    # Then Σ lines = total, in Decimal and in integer minor units, and Σ payouts + Σ fees = total exactly
    assert to_minor_units(total, currency) == sum(to_minor_units(amount, currency) for amount in rounded)
    assert sum((p for p, _ in splits), Decimal(0)) + sum((f for _, f in splits), Decimal(0)) == total


# --- formatting and minor units ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "currency", "text"),
    [
        ("2482.76", "USD", "2482.76"),
        ("185185", "JPY", "185185"),
        ("1.5", "KWD", "1.500"),
        ("0", "USD", "0.00"),
        ("-0.00", "USD", "0.00"),
        ("1E+3", "USD", "1000.00"),
        ("12000", "USD", "12000.00"),
    ],
)
def test_given_rounded_amount_when_formatted_then_exactly_minor_unit_places(
    amount: str, currency: str, text: str
) -> None:
    assert format_money(Decimal(amount), currency) == text


def test_given_unrounded_amount_when_formatted_then_refused_rather_than_rounded_twice() -> None:
    with pytest.raises(ValueError):
        format_money(Decimal("0.315"), "USD")


@pytest.mark.parametrize(
    ("price", "currency", "text"),
    [("1.8000", "USD", "1.80"), ("0.0035", "USD", "0.0035"), ("150", "JPY", "150"), ("2E+1", "USD", "20.00")],
)
def test_given_unit_price_when_formatted_then_plain_notation(price: str, currency: str, text: str) -> None:
    assert format_price(Decimal(price), currency) == text


@pytest.mark.parametrize(
    ("amount", "currency", "units"), [("24.69", "USD", 2469), ("185185", "JPY", 185185), ("1.500", "KWD", 1500)]
)
def test_given_amount_when_converted_to_minor_units_then_integer(amount: str, currency: str, units: int) -> None:
    assert to_minor_units(Decimal(amount), currency) == units
    assert from_minor_units(units, currency) == Decimal(amount)
    assert format_money(from_minor_units(units, currency), currency) == amount


@given(st.integers(min_value=-(10**15), max_value=10**15), currencies)
def test_property_minor_units_round_trip(units: int, currency: str) -> None:
    assert to_minor_units(from_minor_units(units, currency), currency) == units
