"""The one formatter and parser of timestamps (domain.time): API fields, stored keys, events."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from audiens.domain.time import API_TIMESTAMP_PATTERN, key_timestamp, optional_rfc3339, parse_timestamp, rfc3339
from audiens.errors import ValidationError

instants = st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(9998, 12, 31), timezones=st.just(UTC))


def test_given_an_instant_with_a_fraction_when_formatted_for_the_api_then_whole_seconds_in_utc() -> None:
    moment = datetime(2026, 11, 6, 2, 0, 0, 999_999, tzinfo=timezone(timedelta(hours=2)))
    assert rfc3339(moment) == "2026-11-06T00:00:00Z"
    assert re.fullmatch(API_TIMESTAMP_PATTERN, rfc3339(moment))
    assert optional_rfc3339(None) is None
    assert optional_rfc3339(moment) == "2026-11-06T00:00:00Z"


def test_given_an_instant_when_formatted_as_a_key_then_fixed_width_microseconds() -> None:
    assert key_timestamp(datetime(2026, 11, 6, tzinfo=UTC)) == "2026-11-06T00:00:00.000000Z"
    assert key_timestamp(datetime(2026, 11, 6, 0, 0, 0, 250_000, tzinfo=UTC)) == "2026-11-06T00:00:00.250000Z"


def test_given_a_naive_datetime_when_formatted_then_refused() -> None:
    with pytest.raises(ValueError, match="no time zone"):
        rfc3339(datetime(2026, 11, 6))


@given(instants, instants)
def test_keys_sort_as_the_instants_and_parse_back_exactly(a: datetime, b: datetime) -> None:
    assert (key_timestamp(a) < key_timestamp(b)) == (a < b)
    assert parse_timestamp(key_timestamp(a)) == a
    assert parse_timestamp(rfc3339(a)) == a.replace(microsecond=0)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-06T00:00:00Z", datetime(2026, 11, 6, tzinfo=UTC)),
        ("2026-11-06t01:00:00+01:00", datetime(2026, 11, 6, tzinfo=UTC)),
        ("2026-11-06 00:00:00z", datetime(2026, 11, 6, tzinfo=UTC)),
        ("2026-11-06T00:00:00.123456789Z", datetime(2026, 11, 6, 0, 0, 0, 123_456, tzinfo=UTC)),
        ("2026-11-06T00:00:00.5-00:30", datetime(2026, 11, 6, 0, 30, 0, 500_000, tzinfo=UTC)),
    ],
)
def test_given_rfc3339_text_when_parsed_then_the_utc_instant(text: str, expected: datetime) -> None:
    parsed = parse_timestamp(text)
    assert parsed == expected
    assert parsed.tzinfo is UTC


@pytest.mark.parametrize(
    "text",
    ["2026-11-06T00:00:00", "2026-11-06", "2026-11-06T24:00:00Z", "2026-11-06T00:00:00.Z", " 2026-11-06T00:00:00Z"],
)
def test_given_text_that_is_not_rfc3339_with_an_offset_when_parsed_then_invalid_timestamp(text: str) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_timestamp(text)
    assert caught.value.code == "invalid_timestamp"
