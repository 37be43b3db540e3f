"""Traits and segments (DOMAIN.md §3-§4): conditions, prices, expiration, shares and snapshots, no I/O."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, Final, Literal

from audiens.domain.events import KEY_PATTERN, MAX_KEY_LENGTH, MAX_VALUE_LENGTH, normalize_value
from audiens.domain.money import parse_price
from audiens.errors import ValidationError

MAX_CONDITION_VALUES: Final = 100
DEFAULT_EXPIRATION_DAYS: Final = 30
MAX_EXPIRATION_DAYS: Final = 3_650
DEFAULT_CURRENCY: Final = "USD"


@dataclass(frozen=True)
class Snapshot:
    day: date
    population: int
    lower_bound: int
    upper_bound: int


# ------------------------------------------------------------------------------------------------- traits


@dataclass(frozen=True)
class Condition:
    key: str
    values: tuple[str, ...]
    operator: Literal["equals", "in"]


def parse_condition(raw: Mapping[str, Any]) -> Condition:
    def fail(message: str) -> ValidationError:
        return ValidationError(message, code="invalid_condition", details=[{"field": "condition"}])

    key = raw.get("key")
    if not isinstance(key, str) or not KEY_PATTERN.fullmatch(key):
        raise fail(f"condition.key must be 1-{MAX_KEY_LENGTH} characters of letters, digits, '_', '-' or '.'.")
    has_equals, has_in = raw.get("equals") is not None, raw.get("in") is not None
    if has_equals == has_in:
        raise fail("condition needs exactly one of equals (one value) or in (a list of values).")
    if has_equals:
        raws: list[Any] = [raw["equals"]]
    else:
        raws = raw["in"]
        if not isinstance(raws, list) or not 1 <= len(raws) <= MAX_CONDITION_VALUES:
            raise fail(f"condition.in must list 1 to {MAX_CONDITION_VALUES} values.")
    values: list[str] = []
    for item in raws:
        value = normalize_value(item)
        if value is None or not value.strip() or len(value) > MAX_VALUE_LENGTH:
            raise fail(f"condition values must be strings, numbers or booleans of 1-{MAX_VALUE_LENGTH} characters.")
        values.append(value)
    return Condition(key, tuple(dict.fromkeys(values)), "equals" if has_equals else "in")


@dataclass(frozen=True)
class TraitDef:
    """A trait. Only ``rule`` traits exist yet; feeds and algorithmic traits extend the same record."""

    trait_id: str
    account_id: str
    name: str
    kind: str  # "rule" | "algorithmic" (next issue)
    created_at: datetime
    source_id: str | None = None
    condition: Condition | None = None
    feed_id: str | None = None
    seed_trait_id: str | None = None
    modeled_on_feed_ids: tuple[str, ...] = ()
    modeled_trait_ids: tuple[str, ...] = ()  # algorithmic: the feed traits whose union it is (domain/lookalike.py)


# ----------------------------------------------------------------------------------------------- segments

Visibility = Literal["public", "private"]


@dataclass(frozen=True)
class Segment:
    segment_id: str
    account_id: str
    name: str
    category: str
    rule: str
    expiration_days: int
    visibility: str
    cpm: Decimal | None
    currency: str
    status: str  # active | expired | deleted (soft: kept for billing)
    created_at: datetime
    changed_at: datetime
    expired_at: datetime | None = None

    def expires_at(self) -> datetime:
        return self.changed_at + timedelta(days=self.expiration_days)

    def is_due_to_expire(self, now: datetime) -> bool:
        return self.status == "active" and now >= self.expires_at()


def check_price(visibility: str, cpm: Any) -> Decimal | None:
    """Only public segments may be priced (DOMAIN.md §4)."""
    if cpm is None:
        return None
    price = parse_price(cpm)
    if visibility != "public":
        raise ValidationError(
            "Only public segments may have a price (cpm); make the segment public or remove the cpm.",
            code="price_requires_public_segment",
            details=[{"field": "cpm"}],
        )
    return price


def check_expiration_days(days: int) -> int:
    if not 1 <= days <= MAX_EXPIRATION_DAYS:
        raise ValidationError(
            f"expiration_days must be between 1 and {MAX_EXPIRATION_DAYS}.",
            code="invalid_expiration_days",
            details=[{"field": "expiration_days"}],
        )
    return days


def share(part: int, total: int) -> float:
    """A trait's share of a rule's composition, rounded to 4 places (0 when every trait is empty)."""
    return 0.0 if total <= 0 else round(part / total, 4)


def snapshot_day(now: datetime) -> date:
    return now.astimezone(UTC).date()
