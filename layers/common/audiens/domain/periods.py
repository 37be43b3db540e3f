"""Billing periods and the monthly usage reporting window (DOMAIN.md §7, §9).

Everything here is computed in UTC from an explicit ``now``: the rules must give the same answer for
the API (request time), the S3 ingest (event time) and the schedule (event time), and tests must be
able to stand anywhere on the calendar. A naive datetime is a programming error (``ValueError``),
never silently read as local time.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Final, Literal

from audiens.domain.time import ensure_utc, rfc3339
from audiens.errors import ConflictError, ValidationError

__all__ = [
    "DEFAULT_DUE_DAY",
    "Period",
    "Window",
    "WindowState",
    "ensure_window_open",
    "period_to_close",
    "reportable_period",
    "window",
    "window_state",
]

DEFAULT_DUE_DAY: Final = 5
"""Last day of P+1 on which usage for P may be reported; the window closes at 00:00 UTC the day after."""

# Due days past the 28th would make the close date depend on the month (and spill into P+2 in February).
_MAX_DUE_DAY: Final = 28
_MIN_YEAR: Final = 1970
_MAX_YEAR: Final = 9998  # P+1 of the last period must still be a valid date.
_PERIOD_TEXT: Final = re.compile(r"(\d{4})-(\d{2})", re.ASCII)

WindowState = Literal["not_open", "open", "closed"]


@dataclass(frozen=True, order=True, slots=True)
class Period:
    """One calendar month in UTC; orders chronologically and prints as ``YYYY-MM``."""

    year: int
    month: int

    def __post_init__(self) -> None:
        if (
            isinstance(self.year, bool)
            or not isinstance(self.year, int)
            or isinstance(self.month, bool)
            or not isinstance(self.month, int)
            or not _MIN_YEAR <= self.year <= _MAX_YEAR
            or not 1 <= self.month <= 12
        ):
            raise ValidationError(
                f"Period {self.year!r}-{self.month!r} is not a month between {_MIN_YEAR}-01 and {_MAX_YEAR}-12.",
                code="invalid_period",
            )

    @classmethod
    def parse(cls, text: str) -> Period:
        """Strict ``YYYY-MM``: "2026-1", "2026-10-01" or " 2026-10" are refused, not guessed at."""
        match = _PERIOD_TEXT.fullmatch(text) if isinstance(text, str) else None
        if match is None:
            raise ValidationError(f"Period {text!r} must be written YYYY-MM, e.g. 2026-10.", code="invalid_period")
        return cls(int(match.group(1)), int(match.group(2)))

    @classmethod
    def of(cls, dt: datetime) -> Period:
        """The period containing the instant ``dt`` (taken in UTC)."""
        utc = ensure_utc(dt)
        return cls(utc.year, utc.month)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    def next(self) -> Period:
        return Period(self.year + 1, 1) if self.month == 12 else Period(self.year, self.month + 1)

    def previous(self) -> Period:
        return Period(self.year - 1, 12) if self.month == 1 else Period(self.year, self.month - 1)

    @property
    def first_day(self) -> date:
        return date(self.year, self.month, 1)

    @property
    def last_day(self) -> date:
        """Last calendar day: the "billing period" date of the providers' billing report."""
        return date(self.year, self.month, calendar.monthrange(self.year, self.month)[1])

    @property
    def start(self) -> datetime:
        """00:00 UTC on the 1st (inclusive)."""
        return datetime(self.year, self.month, 1, tzinfo=UTC)

    @property
    def end(self) -> datetime:
        """00:00 UTC on the 1st of the next month (exclusive), so periods tile time without gaps."""
        return self.next().start

    def contains(self, dt: datetime) -> bool:
        return self.start <= ensure_utc(dt) < self.end


@dataclass(frozen=True, slots=True)
class Window:
    """Half-open interval ``[opens_at, closes_at)`` in which usage for a period may be reported."""

    opens_at: datetime
    closes_at: datetime

    def state(self, now: datetime) -> WindowState:
        instant = ensure_utc(now)
        if instant < self.opens_at:
            return "not_open"
        if instant < self.closes_at:
            return "open"
        return "closed"


def _check_due_day(due_day: int) -> None:
    if isinstance(due_day, bool) or not isinstance(due_day, int) or not 1 <= due_day <= _MAX_DUE_DAY:
        raise ValidationError(
            f"Due day must be a day of the month from 1 to {_MAX_DUE_DAY}, got {due_day!r}.",
            code="invalid_due_day",
        )


def window(period: Period, due_day: int = DEFAULT_DUE_DAY) -> Window:
    """Reporting window of ``period``: from 00:00 UTC on the 1st of P+1 to 00:00 UTC after the due day.

    The close instant is also when the monthly close runs, so a report is either inside the window or
    arrives after the usage was frozen; there is no instant at which both could happen.
    """
    _check_due_day(due_day)
    opens_at = period.next().start
    return Window(opens_at=opens_at, closes_at=opens_at + timedelta(days=due_day))


def window_state(period: Period, now: datetime, due_day: int = DEFAULT_DUE_DAY) -> WindowState:
    return window(period, due_day).state(now)


def reportable_period(after: Period, now: datetime, due_day: int = DEFAULT_DUE_DAY) -> Period:
    """Earliest period later than ``after`` whose window has not closed at ``now``.

    That is where late impressions of ``after`` belong: normally P+1, but if P+1's window has closed
    too, naming it would send the user to a second refusal.
    """
    # Every period up to the one closed most recently is closed; the one after it is still reportable.
    return max(after.next(), period_to_close(now, due_day).next())


def ensure_window_open(period: Period, now: datetime, due_day: int = DEFAULT_DUE_DAY) -> Window:
    """Refuse a usage report outside the window of ``period``; returns the window when it is open.

    A closed period never changes (its invoices exist), so the refusal tells the user where the
    impressions can still be billed instead of just saying no.
    """
    win = window(period, due_day)
    state = win.state(now)
    if state == "open":
        return win
    details: dict[str, str] = {
        "period": str(period),
        "opens_at": rfc3339(win.opens_at),
        "closes_at": rfc3339(win.closes_at),
    }
    if state == "not_open":
        raise ConflictError(
            f"The reporting window for {period} is not open yet: usage for {period} can be reported from "
            f"{rfc3339(win.opens_at)} until {rfc3339(win.closes_at)}.",
            code="reporting_window_not_open",
            details=[details],
        )
    target = reportable_period(period, now, due_day)
    details["report_in_period"] = str(target)
    raise ConflictError(
        f"The reporting window for {period} closed at {rfc3339(win.closes_at)}. "
        f"Add these impressions to your report for {target}.",
        code="reporting_window_closed",
        details=[details],
    )


def period_to_close(event_time: datetime, due_day: int = DEFAULT_DUE_DAY) -> Period:
    """The period whose window closed most recently at or before ``event_time``.

    The schedule fires at 00:00 UTC on the 6th for the previous month; a late or retried delivery
    (even days later) must still close that same month, not skip to another one.
    """
    _check_due_day(due_day)
    candidate = Period.of(event_time).previous()
    if window(candidate, due_day).closes_at <= ensure_utc(event_time):
        return candidate
    return candidate.previous()
