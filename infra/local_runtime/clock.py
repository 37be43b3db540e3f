"""The settable local clock: business time for requests, events and schedules.

It is an offset over the real UTC clock, so once set it keeps ticking with real time. Everything that
stamps a time (the gateway's ``requestTimeEpoch``, EventBridge event ``time``, schedule fire times)
reads it; infrastructure timers (caches, back-offs, long polls) use real time.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta


def parse_time(value: str | datetime) -> datetime:
    """RFC 3339 / ISO 8601 → aware UTC datetime (naive values are taken as UTC)."""
    if isinstance(value, datetime):
        moment = value
    else:
        text = value.strip()
        if not text:
            raise ValueError("empty time")
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def rfc3339(moment: datetime, *, millis: bool = False) -> str:
    moment = moment.astimezone(UTC)
    if millis:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class Clock:
    def __init__(self, start: str | datetime | None = None) -> None:
        self._lock = threading.Lock()
        self._offset = timedelta(0)
        self._listeners: list[Callable[[datetime], None]] = []
        if start is not None:
            self._offset = parse_time(start) - datetime.now(UTC)

    def now(self) -> datetime:
        return datetime.now(UTC) + self._offset

    def now_ms(self) -> int:
        return int(self.now().timestamp() * 1000)

    def set(self, moment: str | datetime) -> datetime:
        target = parse_time(moment)
        with self._lock:
            self._offset = target - datetime.now(UTC)
            listeners = list(self._listeners)
        for listener in listeners:
            listener(target)
        return target

    def offset_seconds(self) -> float:
        """How far the local clock is ahead of real UTC time (negative: behind)."""
        return self._offset.total_seconds()

    def set_offset(self, seconds: float) -> datetime:
        """Put the clock ``seconds`` ahead of real time (what a saved state restores)."""
        return self.set(datetime.now(UTC) + timedelta(seconds=seconds))

    def advance(self, delta: timedelta) -> datetime:
        return self.set(self.now() + delta)

    def on_set(self, listener: Callable[[datetime], None]) -> None:
        with self._lock:
            self._listeners.append(listener)

    def __repr__(self) -> str:
        return f"Clock(now={rfc3339(self.now(), millis=True)})"
