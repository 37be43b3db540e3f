"""Periods and the reporting window: usage for P is reported from 00:00 UTC on the 1st of P+1 until
00:00 UTC on the 6th, when the monthly close runs (DOMAIN.md §7, §9)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from audiens.domain.periods import (
    Period,
    Window,
    ensure_window_open,
    period_to_close,
    reportable_period,
    window,
    window_state,
)
from audiens.domain.time import ensure_utc, parse_timestamp, rfc3339
from audiens.errors import ConflictError, ValidationError

OCTOBER = Period(2026, 10)

periods = st.builds(Period, st.integers(min_value=1971, max_value=9997), st.integers(min_value=1, max_value=12))
instants = st.datetimes(min_value=datetime(1970, 3, 1), max_value=datetime(9997, 1, 1), timezones=st.just(UTC))


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


# --- Period -----------------------------------------------------------------------------------------


def test_given_yyyy_mm_when_parsed_then_period_and_back() -> None:
    period = Period.parse("2026-10")
    assert period == OCTOBER
    assert str(period) == "2026-10"
    assert str(Period(2027, 1)) == "2027-01"


@pytest.mark.parametrize(
    "text", ["2026-1", "2026-13", "2026-00", "26-10", "2026-10-01", " 2026-10", "2026-10 ", "2026/10", "", "1969-12",
             "\uff12\uff10\uff12\uff16-10", "202610", None, 202610],
)  # fmt: skip
def test_given_not_strict_yyyy_mm_when_parsed_then_invalid_period(text: object) -> None:
    with pytest.raises(ValidationError) as caught:
        Period.parse(text)  # type: ignore[arg-type]
    assert caught.value.code == "invalid_period"


@pytest.mark.parametrize(("year", "month"), [(2026, 0), (2026, 13), (1969, 12), (9999, 1)])
def test_given_out_of_range_fields_when_built_then_invalid_period(year: int, month: int) -> None:
    with pytest.raises(ValidationError) as caught:
        Period(year, month)
    assert caught.value.code == "invalid_period"


def test_given_periods_when_compared_then_chronological() -> None:
    assert Period(2025, 12) < Period(2026, 1) < Period(2026, 2) < Period(2026, 10) < Period(2026, 11)
    assert sorted([Period(2026, 11), Period(2025, 12), OCTOBER]) == [Period(2025, 12), OCTOBER, Period(2026, 11)]
    assert len({Period(2026, 10), Period.parse("2026-10")}) == 1


def test_given_year_boundary_when_stepping_then_next_and_previous_cross_it() -> None:
    assert Period(2026, 12).next() == Period(2027, 1)
    assert Period(2027, 1).previous() == Period(2026, 12)
    assert OCTOBER.next() == Period(2026, 11)


@pytest.mark.parametrize(
    ("period", "last"),
    [(Period(2026, 2), date(2026, 2, 28)), (Period(2028, 2), date(2028, 2, 29)), (Period(2026, 12), date(2026, 12, 31)),
     (Period(2026, 4), date(2026, 4, 30))],
)  # fmt: skip
def test_given_period_when_days_asked_then_first_and_last_calendar_day(period: Period, last: date) -> None:
    assert period.first_day == date(period.year, period.month, 1)
    assert period.last_day == last


def test_given_period_when_bounds_asked_then_half_open_utc_interval() -> None:
    assert OCTOBER.start == at("2026-10-01T00:00:00+00:00")
    assert OCTOBER.end == at("2026-11-01T00:00:00+00:00")
    assert OCTOBER.contains(at("2026-10-31T23:59:59.999999+00:00"))
    assert not OCTOBER.contains(OCTOBER.end)


def test_given_instant_in_another_zone_when_period_of_then_taken_in_utc() -> None:
    # Given 00:30 on 1 November in Paris, which is still 31 October in UTC
    paris_time = datetime(2026, 11, 1, 0, 30, tzinfo=timezone(timedelta(hours=1)))
    assert Period.of(paris_time) == OCTOBER


def test_given_naive_datetime_when_used_then_refused() -> None:
    with pytest.raises(ValueError, match="time zone"):
        Period.of(datetime(2026, 10, 15))
    with pytest.raises(ValueError):
        ensure_utc(datetime(2026, 10, 15))


# --- the window -------------------------------------------------------------------------------------


def test_given_october_when_window_computed_then_1st_to_6th_of_november() -> None:
    assert window(OCTOBER) == Window(at("2026-11-01T00:00:00+00:00"), at("2026-11-06T00:00:00+00:00"))


def test_given_december_when_window_computed_then_january_of_next_year() -> None:
    win = window(Period(2026, 12))
    assert (rfc3339(win.opens_at), rfc3339(win.closes_at)) == ("2027-01-01T00:00:00Z", "2027-01-06T00:00:00Z")


def test_given_configured_due_day_when_window_computed_then_closes_the_day_after() -> None:
    assert window(OCTOBER, due_day=10).closes_at == at("2026-11-11T00:00:00+00:00")
    assert window(Period(2027, 1), due_day=28).closes_at == at("2027-03-01T00:00:00+00:00")


@pytest.mark.parametrize("due_day", [0, 29, -1, True])
def test_given_impossible_due_day_when_window_computed_then_invalid_due_day(due_day: int) -> None:
    with pytest.raises(ValidationError) as caught:
        window(OCTOBER, due_day=due_day)
    assert caught.value.code == "invalid_due_day"


@pytest.mark.parametrize(
    ("now", "state"),
    [
        ("2026-10-31T23:59:59.999999+00:00", "not_open"),
        ("2026-11-01T00:00:00+00:00", "open"),
        ("2026-11-05T23:59:59.999999+00:00", "open"),
        ("2026-11-05T23:30:00-05:00", "closed"),  # 04:30 UTC on the 6th
        ("2026-11-06T00:00:00+00:00", "closed"),
        ("2027-06-01T00:00:00+00:00", "closed"),
    ],
)
def test_given_instant_around_the_window_when_state_asked_then_half_open(now: str, state: str) -> None:
    assert window_state(OCTOBER, at(now)) == state


def test_given_open_window_when_ensured_then_returns_the_window() -> None:
    assert ensure_window_open(OCTOBER, at("2026-11-03T12:00:00+00:00")) == window(OCTOBER)


def test_given_report_before_window_when_ensured_then_not_open_conflict() -> None:
    with pytest.raises(ConflictError) as caught:
        ensure_window_open(OCTOBER, at("2026-10-20T00:00:00+00:00"))
    assert caught.value.status == 409
    assert caught.value.code == "reporting_window_not_open"
    assert "2026-11-01T00:00:00Z" in caught.value.message


def test_given_report_after_close_when_ensured_then_closed_conflict_naming_next_period() -> None:
    # Given October's window closed at 00:00 on 6 November
    # When October usage arrives one second later
    with pytest.raises(ConflictError) as caught:
        ensure_window_open(OCTOBER, at("2026-11-06T00:00:01+00:00"))
    # Then it is refused and the user is told to report it with November
    assert caught.value.code == "reporting_window_closed"
    assert caught.value.message == (
        "The reporting window for 2026-10 closed at 2026-11-06T00:00:00Z. "
        "Add these impressions to your report for 2026-11."
    )
    assert caught.value.details == [
        {
            "period": "2026-10",
            "opens_at": "2026-11-01T00:00:00Z",
            "closes_at": "2026-11-06T00:00:00Z",
            "report_in_period": "2026-11",
        }
    ]


@pytest.mark.parametrize(
    ("now", "target"),
    [
        ("2026-12-03T00:00:00+00:00", "2026-11"),  # December's window reports November: add October to it
        ("2026-12-06T00:00:00+00:00", "2026-12"),  # November's window has closed too
        ("2027-03-02T00:00:00+00:00", "2027-02"),
        ("2125-01-01T00:00:00+00:00", "2124-12"),  # a century late: still one step, no scan
    ],
)
def test_given_much_later_report_when_refused_then_names_a_period_still_reportable(now: str, target: str) -> None:
    with pytest.raises(ConflictError) as caught:
        ensure_window_open(OCTOBER, at(now))
    assert caught.value.message.endswith(f"Add these impressions to your report for {target}.")
    assert window_state(Period.parse(target), at(now)) != "closed"


# --- the monthly close ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event_time", "period"),
    [
        ("2026-11-06T00:00:00+00:00", "2026-10"),  # the schedule, on time
        ("2026-11-06T00:04:17+00:00", "2026-10"),  # delivered late
        ("2026-11-20T10:00:00+00:00", "2026-10"),  # replayed much later: still the same period
        ("2026-11-05T23:59:59+00:00", "2026-09"),  # October's window is still open
        ("2027-01-06T00:00:00+00:00", "2026-12"),
    ],
)
def test_given_close_event_time_when_period_chosen_then_window_closed_most_recently(
    event_time: str, period: str
) -> None:
    assert period_to_close(at(event_time)) == Period.parse(period)


def test_given_configured_due_day_when_period_chosen_then_uses_that_close() -> None:
    assert period_to_close(at("2026-11-08T00:00:00+00:00"), due_day=7) == OCTOBER
    assert period_to_close(at("2026-11-07T23:00:00+00:00"), due_day=7) == Period(2026, 9)


# --- timestamps -------------------------------------------------------------------------------------


def test_given_aware_datetime_when_formatted_then_rfc3339_utc_z() -> None:
    assert rfc3339(at("2026-11-06T00:00:00+00:00")) == "2026-11-06T00:00:00Z"
    assert rfc3339(at("2026-11-06T02:00:00+02:00")) == "2026-11-06T00:00:00Z"
    # The API writes whole seconds (docs/DECISIONS.md, Timestamps); keys keep the microseconds (test_time.py).
    assert rfc3339(at("2026-11-06T00:00:00.250000+00:00")) == "2026-11-06T00:00:00Z"


@pytest.mark.parametrize(
    ("text", "expected"),
    [("2026-11-06T00:00:00Z", "2026-11-06T00:00:00Z"), ("2026-11-06T01:00:00+01:00", "2026-11-06T00:00:00Z")],
)
def test_given_rfc3339_text_when_parsed_then_utc_instant(text: str, expected: str) -> None:
    parsed = parse_timestamp(text)
    assert parsed.tzinfo is UTC
    assert rfc3339(parsed) == expected


@pytest.mark.parametrize("text", ["2026-11-06T00:00:00", "yesterday", "", "2026-13-01T00:00:00Z"])
def test_given_timestamp_without_zone_or_garbage_when_parsed_then_invalid_timestamp(text: str) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_timestamp(text)
    assert caught.value.code == "invalid_timestamp"


# --- properties -------------------------------------------------------------------------------------


@given(periods)
def test_property_period_text_and_steps_round_trip(period: Period) -> None:
    assert Period.parse(str(period)) == period
    assert period.next().previous() == period
    assert period < period.next()
    assert Period.of(period.start) == period
    assert Period.of(period.end - timedelta(microseconds=1)) == period
    assert period.end - timedelta(days=1) == datetime.combine(period.last_day, datetime.min.time(), UTC)


@given(periods, st.integers(min_value=1, max_value=28))
def test_property_window_opens_after_the_period_and_its_close_closes_it(period: Period, due_day: int) -> None:
    win = window(period, due_day)
    assert win.opens_at == period.end
    assert win.closes_at - win.opens_at == timedelta(days=due_day)
    assert period_to_close(win.closes_at, due_day) == period
    assert period_to_close(win.closes_at - timedelta(microseconds=1), due_day) == period.previous()


@given(instants)
def test_property_every_instant_closes_exactly_one_period(now: datetime) -> None:
    period = period_to_close(now)
    assert window(period).closes_at <= now < window(period.next()).closes_at
    assert window_state(period, now) == "closed"
    # The period a late report is redirected to is never already closed
    assert window_state(reportable_period(period, now), now) != "closed"
