"""Money arithmetic for invoices and payouts.

Money is ``Decimal`` (or an integer count of minor units), never ``float``: a float cannot hold 0.35
exactly, and the close must satisfy ``Σ invoice totals = Σ payouts + Σ platform fees`` to the cent.
Every intermediate product is computed exactly (the context traps ``Inexact``) and an amount is
rounded exactly once, by :func:`round_money`, half-up to the currency's ISO 4217 minor unit.

User input (a price, a discount, a revenue share, a currency) that breaks a rule raises
:class:`~audiens.errors.ValidationError`; a caller passing a non-``Decimal`` or an unrounded amount
where a rounded one is required is a programming error and raises ``TypeError``/``ValueError``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Context, Decimal, DivisionByZero, Inexact, InvalidOperation, Overflow
from types import MappingProxyType
from typing import Final

from audiens.errors import ValidationError

__all__ = [
    "CURRENCY_MINOR_UNITS",
    "MAX_PRICE_PLACES",
    "cpm_amount",
    "discounted_price",
    "flat_fee_amount",
    "format_money",
    "format_price",
    "from_minor_units",
    "minor_units",
    "parse_discount_pct",
    "parse_price",
    "parse_revenue_share",
    "round_money",
    "split_revenue",
    "to_minor_units",
]

# ISO 4217 minor units of the currencies the marketplace can bill in. A currency outside this table is
# refused rather than guessed: billing JPY with two decimals would invent fractions of a yen.
CURRENCY_MINOR_UNITS: Final[Mapping[str, int]] = MappingProxyType(
    {
        # two places
        "USD": 2, "EUR": 2, "GBP": 2, "CHF": 2, "CAD": 2, "AUD": 2, "NZD": 2, "SEK": 2, "NOK": 2,
        "DKK": 2, "PLN": 2, "CZK": 2, "HUF": 2, "RON": 2, "SGD": 2, "HKD": 2, "CNY": 2, "INR": 2,
        "MXN": 2, "BRL": 2, "ZAR": 2, "ILS": 2, "AED": 2, "SAR": 2, "TRY": 2, "THB": 2, "MYR": 2,
        # no minor unit
        "JPY": 0, "KRW": 0, "ISK": 0, "CLP": 0, "VND": 0,
        # three places
        "KWD": 3, "BHD": 3, "OMR": 3, "JOD": 3, "TND": 3,
    }
)  # fmt: skip

MAX_PRICE_PLACES: Final = 6
"""Unit prices may be finer than the minor unit (a CPM of 0.0035 USD); six places is ample and bounded."""

_MAX_INTEGER_DIGITS: Final = 15
_DECIMAL_TEXT: Final = re.compile(rf"(\d{{1,{_MAX_INTEGER_DIGITS}}})(?:\.(\d{{1,{MAX_PRICE_PLACES}}}))?", re.ASCII)

# Exact arithmetic: 60 digits hold any product of a 10^15 impression count and a 21-digit price, and
# trapping Inexact turns any silent rounding into a loud failure instead of a wrong cent.
_EXACT: Final = Context(prec=60, rounding=ROUND_HALF_UP, traps=[InvalidOperation, DivisionByZero, Overflow, Inexact])
# The one place rounding is allowed to happen (quantize signals Inexact by design, so it is not trapped).
_ROUNDING: Final = Context(prec=60, rounding=ROUND_HALF_UP, traps=[InvalidOperation, DivisionByZero, Overflow])

_ZERO: Final = Decimal(0)
_ONE: Final = Decimal(1)
_HUNDRED: Final = Decimal(100)
_THOUSAND: Final = Decimal(1000)


def minor_units(currency: str) -> int:
    """Number of decimal places of ``currency``; codes are matched exactly (upper case) as stored."""
    places = CURRENCY_MINOR_UNITS.get(currency)
    if places is None:
        raise ValidationError(
            f"Currency {currency!r} is not supported.",
            code="unsupported_currency",
            details=[{"currency": currency, "supported": sorted(CURRENCY_MINOR_UNITS)}],
        )
    return places


def _quantum(currency: str) -> Decimal:
    return Decimal(1).scaleb(-minor_units(currency))


def _require_decimal(value: object, name: str) -> Decimal:
    # A float (or a bool/int) slipping in would make the arithmetic silently inexact or change its meaning.
    if not isinstance(value, Decimal):
        raise TypeError(f"{name} must be a Decimal, not {type(value).__name__}")
    if not value.is_finite():
        raise ValueError(f"{name} must be finite, got {value}")
    return value


def _parse_decimal_text(text: object, *, what: str, code: str) -> Decimal:
    # JSON numbers arrive as float and are refused on purpose: prices travel as decimal strings (API.md).
    if not isinstance(text, str) or _DECIMAL_TEXT.fullmatch(text) is None:
        shown = text if isinstance(text, str) else type(text).__name__
        raise ValidationError(
            f'{what} must be a decimal string such as "2.50" with at most {MAX_PRICE_PLACES} decimal places, '
            f"got {shown!r}.",
            code=code,
        )
    return Decimal(text)


def parse_price(text: object) -> Decimal:
    """Parse a non-negative price written as a plain decimal string (no sign, exponent, NaN or float)."""
    return _parse_decimal_text(text, what="Price", code="invalid_price")


def parse_discount_pct(text: object) -> Decimal:
    """Parse a discount in percent, 0 to 100, written as a decimal string (``"10"``, ``"12.5"``)."""
    pct = _parse_decimal_text(text, what="Discount", code="invalid_discount")
    _check_discount(pct)
    return pct


def parse_revenue_share(text: object) -> Decimal:
    """Parse a provider's revenue share, a fraction from 0 to 1 written as a decimal string (``"0.80"``)."""
    share = _parse_decimal_text(text, what="Revenue share", code="invalid_revenue_share")
    _check_revenue_share(share)
    return share


def round_money(amount: Decimal, currency: str) -> Decimal:
    """Round half-up (ties away from zero) to the minor unit: the single rounding step of the system.

    Keeping it in one function is what makes "each line is rounded once" checkable.
    """
    value = _require_decimal(amount, "amount")
    return value.quantize(_quantum(currency), rounding=ROUND_HALF_UP, context=_ROUNDING)


def _require_rounded(amount: Decimal, currency: str) -> Decimal:
    value = _require_decimal(amount, "amount")
    if round_money(value, currency) != value:
        raise ValueError(f"{value} is not a whole number of {currency} minor units; round it first")
    return value


def cpm_amount(impressions: int, unit_price: Decimal, currency: str) -> Decimal:
    """Amount of a CPM line: impressions times the price per thousand, rounded once for the whole line.

    Rounding per line rather than per impression or per thousand is what the billing guide publishes.
    """
    if isinstance(impressions, bool) or not isinstance(impressions, int) or impressions < 0:
        raise ValueError(f"impressions must be a non-negative int, got {impressions!r}")
    price = _require_decimal(unit_price, "unit_price")
    exact = _EXACT.divide(_EXACT.multiply(Decimal(impressions), price), _THOUSAND)
    return round_money(exact, currency)


def _check_discount(discount_pct: Decimal) -> None:
    if not isinstance(discount_pct, Decimal) or not discount_pct.is_finite() or not _ZERO <= discount_pct <= _HUNDRED:
        raise ValidationError(
            f"Discount must be between 0 and 100 percent, got {discount_pct}.",
            code="invalid_discount",
        )


def _check_revenue_share(revenue_share: Decimal) -> None:
    if not isinstance(revenue_share, Decimal) or not revenue_share.is_finite() or not _ZERO <= revenue_share <= _ONE:
        raise ValidationError(
            f"Revenue share must be between 0 and 1, got {revenue_share}.",
            code="invalid_revenue_share",
        )


def discounted_price(list_price: Decimal, discount_pct: Decimal) -> Decimal:
    """List price less the buyer's discount, kept exact.

    Not rounded: a 10 % discount on a 0.35 CPM is 0.315, and rounding it here would round the
    invoice line twice. The line amount computed from it is rounded once by :func:`round_money`.
    """
    price = _require_decimal(list_price, "list_price")
    _check_discount(discount_pct)
    if discount_pct == _ZERO:
        return price
    return _EXACT.divide(_EXACT.multiply(price, _EXACT.subtract(_HUNDRED, discount_pct)), _HUNDRED)


def flat_fee_amount(monthly_fee: Decimal, discount_pct: Decimal, currency: str) -> Decimal:
    """Amount of a flat-fee line: the full monthly fee less discount.

    Takes no dates on purpose: the fee is never prorated, whatever day the subscription started.
    """
    return round_money(discounted_price(monthly_fee, discount_pct), currency)


def split_revenue(amount: Decimal, revenue_share: Decimal, currency: str) -> tuple[Decimal, Decimal]:
    """Split a rounded line amount into (provider share, platform fee).

    Only the provider share is rounded; the platform fee is the exact remainder, so the two always
    add back to the line amount and the period's books balance to the minor unit.
    """
    value = _require_rounded(amount, currency)
    _check_revenue_share(revenue_share)
    provider_share = round_money(_EXACT.multiply(value, revenue_share), currency)
    platform_fee = _EXACT.subtract(value, provider_share)
    return provider_share, round_money(platform_fee, currency)


def format_money(amount: Decimal, currency: str) -> str:
    """Render an already rounded amount with exactly the minor-unit places ("2482.76", "185185", "1.500").

    Refuses an unrounded amount instead of rounding it, so formatting can never be a second rounding.
    """
    value = _require_rounded(amount, currency)
    rounded = round_money(value, currency)
    if rounded == _ZERO:
        rounded = abs(rounded)  # no "-0.00"
    return f"{rounded:f}"


def format_price(price: Decimal, currency: str) -> str:
    """Render a unit price in plain notation: at least the minor-unit places, more only when they carry digits.

    A discounted CPM of 0.315 must show as "0.315", a list price of 2 as "2.00", never "2E+0".
    """
    value = _require_decimal(price, "price")
    places = minor_units(currency)
    normalized = value.normalize(context=_ROUNDING)
    exponent = normalized.as_tuple().exponent
    assert isinstance(exponent, int)  # finite values have an int exponent
    shown = max(places, -exponent)
    return f"{value.quantize(Decimal(1).scaleb(-shown), context=_EXACT):f}"


def to_minor_units(amount: Decimal, currency: str) -> int:
    """Integer count of minor units (cents), for storage where a Decimal would round-trip through float."""
    value = _require_rounded(amount, currency)
    return int(value.scaleb(minor_units(currency), context=_EXACT))


def from_minor_units(units: int, currency: str) -> Decimal:
    """Inverse of :func:`to_minor_units`; the result carries exactly the currency's places."""
    if isinstance(units, bool) or not isinstance(units, int):
        raise TypeError(f"units must be an int, not {type(units).__name__}")
    return Decimal(units).scaleb(-minor_units(currency), context=_EXACT)
