"""EventBridge / EventBridge Scheduler schedule expressions: ``cron(...)``, ``rate(...)`` and ``at(...)``.

AWS cron has six fields: ``minutes hours day-of-month month day-of-week year``; exactly one of
day-of-month and day-of-week is ``?``; day-of-week runs 1-7 = SUN-SAT. Supported here: ``*``, ``?``,
lists, ranges, steps and month/day names. ``L``, ``W`` and ``#`` are rejected with a clear error.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo


class ScheduleExpressionError(ValueError):
    pass


_MONTHS = {
    name: i
    for i, name in enumerate(
        ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"], start=1
    )
}
_DAYS = {name: i for i, name in enumerate(["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"], start=1)}
_LAST_YEAR = 2199


def _parse_field(text: str, low: int, high: int, names: dict[str, int] | None, what: str) -> frozenset[int]:
    def number(token: str) -> int:
        token = token.strip().upper()
        if names and token in names:
            return names[token]
        if not token.isdigit():
            raise ScheduleExpressionError(f"{what}: {token!r} is not a number")
        value = int(token)
        if not low <= value <= high:
            raise ScheduleExpressionError(f"{what}: {value} is outside {low}-{high}")
        return value

    for token in re.split(r"[,/-]", text.upper()):
        if not (names and token in names) and any(marker in token for marker in ("L", "W", "#")):
            raise ScheduleExpressionError(f"{what}: {text!r} uses L, W or #, which the local runtime does not support")
    values: set[int] = set()
    for part in text.split(","):
        range_part, _, step_text = part.partition("/")
        step = 1
        if step_text:
            if not step_text.isdigit() or int(step_text) == 0:
                raise ScheduleExpressionError(f"{what}: bad step in {part!r}")
            step = int(step_text)
        if range_part == "*":
            start, end = low, high
        elif "-" in range_part:
            first, last = range_part.split("-", 1)
            start, end = number(first), number(last)
            if start > end:
                raise ScheduleExpressionError(f"{what}: range {range_part!r} runs backwards")
        else:
            start = number(range_part)
            end = high if step_text else start
        values.update(range(start, end + 1, step))
    return frozenset(values)


@dataclass(frozen=True)
class Cron:
    expression: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days_of_month: frozenset[int] | None  # None = "?"
    months: frozenset[int]
    days_of_week: frozenset[int] | None  # None = "?"; 1 = Sunday
    years: frozenset[int]
    timezone: tzinfo = UTC

    @classmethod
    def parse(cls, body: str, timezone: tzinfo = UTC) -> Cron:
        fields = body.split()
        if len(fields) != 6:
            raise ScheduleExpressionError(
                f"cron({body}) needs 6 fields: minutes hours day-of-month month day-of-week year"
            )
        minute, hour, dom, month, dow, year = fields
        if (dom == "?") == (dow == "?"):
            raise ScheduleExpressionError(f"cron({body}): exactly one of day-of-month and day-of-week must be '?'")
        return cls(
            expression=f"cron({body})",
            minutes=_parse_field(minute, 0, 59, None, "minutes"),
            hours=_parse_field(hour, 0, 23, None, "hours"),
            days_of_month=None if dom == "?" else _parse_field(dom, 1, 31, None, "day-of-month"),
            months=_parse_field(month, 1, 12, _MONTHS, "month"),
            days_of_week=None if dow == "?" else _parse_field(dow, 1, 7, _DAYS, "day-of-week"),
            years=_parse_field(year, 1970, _LAST_YEAR, None, "year"),
            timezone=timezone,
        )

    def _day_matches(self, day: date) -> bool:
        if day.month not in self.months or day.year not in self.years:
            return False
        if self.days_of_month is not None:
            return day.day in self.days_of_month
        assert self.days_of_week is not None
        return (day.weekday() + 1) % 7 + 1 in self.days_of_week

    def occurrences(self, after: datetime) -> Iterator[datetime]:
        """Fire times strictly after ``after``, in order, as aware UTC datetimes."""
        local_after = after.astimezone(self.timezone)
        day = local_after.date()
        last_year = max(self.years)
        times = sorted((h, m) for h in self.hours for m in self.minutes)
        while day.year <= last_year:
            if self._day_matches(day):
                for hour, minute in times:
                    naive = datetime(day.year, day.month, day.day, hour, minute)
                    moment = naive.replace(tzinfo=self.timezone).astimezone(UTC)
                    if moment > after:
                        yield moment
            day += timedelta(days=1)


@dataclass(frozen=True)
class Rate:
    expression: str
    period: timedelta
    anchor: datetime  # the schedule's creation time: fires at anchor + k * period

    @classmethod
    def parse(cls, body: str, anchor: datetime) -> Rate:
        match = re.fullmatch(r"\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*", body)
        if not match or int(match.group(1)) == 0:
            raise ScheduleExpressionError(f"rate({body}): expected rate(<n> minute(s)|hour(s)|day(s))")
        unit = match.group(2).rstrip("s")
        period = timedelta(**{f"{unit}s": int(match.group(1))})
        return cls(expression=f"rate({body})", period=period, anchor=anchor.astimezone(UTC))

    def occurrences(self, after: datetime) -> Iterator[datetime]:
        steps = max(0, int((after - self.anchor) / self.period))
        moment = self.anchor + steps * self.period
        while True:
            if moment > after:
                yield moment
            moment += self.period


@dataclass(frozen=True)
class At:
    expression: str
    moment: datetime

    @classmethod
    def parse(cls, body: str, timezone: tzinfo = UTC) -> At:
        try:
            naive = datetime.fromisoformat(body.strip())
        except ValueError:
            raise ScheduleExpressionError(f"at({body}): expected at(yyyy-mm-ddThh:mm:ss)") from None
        return cls(expression=f"at({body})", moment=naive.replace(tzinfo=timezone).astimezone(UTC))

    def occurrences(self, after: datetime) -> Iterator[datetime]:
        if self.moment > after:
            yield self.moment


Expression = Cron | Rate | At


def parse_expression(text: str, *, timezone: str | None = None, anchor: datetime | None = None) -> Expression:
    tz: tzinfo = UTC if timezone in (None, "", "UTC", "Etc/UTC") else ZoneInfo(str(timezone))
    match = re.fullmatch(r"\s*(cron|rate|at)\((.*)\)\s*", text or "")
    if not match:
        raise ScheduleExpressionError(f"{text!r} is not cron(...), rate(...) or at(...)")
    kind, body = match.groups()
    if kind == "cron":
        return Cron.parse(body, tz)
    if kind == "rate":
        return Rate.parse(body, anchor or datetime.now(UTC))
    return At.parse(body, tz)


def next_fire(expression: Expression, after: datetime) -> datetime | None:
    return next(iter(expression.occurrences(after)), None)


def fires_between(expression: Expression, after: datetime, until: datetime, limit: int) -> tuple[list[datetime], bool]:
    """Fire times in (after, until], at most ``limit``; the flag says whether more were cut off."""
    fires: list[datetime] = []
    for moment in expression.occurrences(after):
        if moment > until:
            return fires, False
        if len(fires) == limit:
            return fires, True
        fires.append(moment)
    return fires, False
