"""Schedules (``Type: ScheduleV2`` and ``Type: Schedule``) fired from the settable local clock.

A thread looks at the clock every 250 ms (and at once when it is set) and fires every occurrence in
(last check, now], in order: a jump forward fires each missed occurrence (at most 1,000 per schedule
per jump, logged when capped). Setting the clock backwards fires nothing, and no occurrence ever fires
twice: the stretches of clock time already swept are remembered, so moving forward again over them
fires nothing, while a stretch never lived through (say, before the runtime's start) fires as time
passes through it. Each schedule has its own dispatcher thread, so a slow one does not hold up others.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .clock import rfc3339
from .schedule_expr import Expression, fires_between, parse_expression

if TYPE_CHECKING:
    from .runtime import LocalRuntime
    from .template import EventSource

log = logging.getLogger("local_runtime")

MAX_FIRES_PER_JUMP = 1000
LOCAL_MAX_RETRIES = 3


@dataclass
class Schedule:
    name: str
    function_id: str
    event_name: str
    kind: str  # ScheduleV2 (EventBridge Scheduler) or Schedule (EventBridge rule)
    expression_text: str
    expression: Expression
    timezone: str
    input: str | None
    enabled: bool
    arn: str
    retries: int
    dead_letter_arn: str | None
    queue: queue.Queue[tuple[datetime, bool]] = field(default_factory=queue.Queue)

    @property
    def alias(self) -> str:
        return f"{self.function_id}.{self.event_name}"


class Scheduler:
    def __init__(self, runtime: LocalRuntime, sources: list[EventSource]) -> None:
        self.runtime = runtime
        self.schedules: list[Schedule] = []
        self._lock = threading.Lock()
        self._pending = 0
        self._idle = threading.Condition(self._lock)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._last_check = runtime.clock.now()
        self._swept: list[tuple[datetime, datetime]] = []  # (start, end] stretches already fired, merged
        for source in sources:
            self.schedules.append(self._schedule(source))

    def _schedule(self, source: EventSource) -> Schedule:
        catalog = self.runtime.catalog
        props = catalog.resolve(source.properties)
        v2 = source.type == "ScheduleV2"
        name = str(props.get("Name") or f"{source.function_id}{source.name}")
        timezone = str(props.get("ScheduleExpressionTimezone") or "UTC") if v2 else "UTC"
        expression = parse_expression(str(props["ScheduleExpression"]), timezone=timezone, anchor=self._last_check)
        raw_input = props.get("Input")
        if raw_input is not None and not isinstance(raw_input, str):
            raw_input = json.dumps(raw_input)
        state = str(props.get("State", "ENABLED")).upper()
        enabled = state != "DISABLED" and str(props.get("Enabled", "true")).lower() != "false"
        arn = (
            catalog.arn("scheduler", f"schedule/{props.get('GroupName') or 'default'}/{name}")
            if v2
            else catalog.arn("events", f"rule/{name}")
        )
        configured = int((props.get("RetryPolicy") or {}).get("MaximumRetryAttempts", 185 if v2 else 2))
        return Schedule(
            name=name,
            function_id=source.function_id,
            event_name=source.name,
            kind=source.type,
            expression_text=str(props["ScheduleExpression"]),
            expression=expression,
            timezone=timezone,
            input=raw_input,
            enabled=enabled,
            arn=arn,
            retries=min(configured, LOCAL_MAX_RETRIES),
            dead_letter_arn=(props.get("DeadLetterConfig") or {}).get("Arn"),
        )

    # ------------------------------------------------------------------------------------------------
    def start(self) -> None:
        self.runtime.clock.on_set(lambda _moment: self._wake.set())
        for schedule in self.schedules:
            thread = threading.Thread(
                target=self._dispatch, args=(schedule,), name=f"schedule:{schedule.name}", daemon=True
            )
            thread.start()
            self._threads.append(thread)
        ticker = threading.Thread(target=self._tick, name="scheduler", daemon=True)
        ticker.start()
        self._threads.append(ticker)

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        for schedule in self.schedules:
            schedule.queue.put((datetime.min, False))
        for thread in self._threads:
            thread.join(2)

    def _tick(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(0.25)
            self._wake.clear()
            if not self._stop.is_set():
                self.check()

    def check(self) -> None:
        """Queue every occurrence between the last check and the clock's now that has not fired yet."""
        with self._lock:
            now = self.runtime.clock.now()
            start, self._last_check = self._last_check, now
            if now <= start:
                return
            stretches = self._unswept(start, now)
            for schedule in self.schedules:
                if not schedule.enabled:
                    continue
                fires: list[datetime] = []
                capped = False
                for after, until in stretches:
                    more, capped = fires_between(schedule.expression, after, until, MAX_FIRES_PER_JUMP - len(fires))
                    fires += more
                    if capped:
                        break
                if capped:
                    log.warning(
                        "schedule %s: more than %d occurrences in the clock jump; only the first %d fire",
                        schedule.name,
                        MAX_FIRES_PER_JUMP,
                        MAX_FIRES_PER_JUMP,
                    )
                for moment in fires:
                    self._pending += 1
                    schedule.queue.put((moment, False))
            self._sweep(start, now)

    def _unswept(self, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
        stretches = []
        cursor = start
        for swept_start, swept_end in self._swept:
            if swept_end <= cursor or swept_start >= end:
                continue
            if swept_start > cursor:
                stretches.append((cursor, swept_start))
            cursor = max(cursor, swept_end)
        if cursor < end:
            stretches.append((cursor, end))
        return stretches

    def _sweep(self, start: datetime, end: datetime) -> None:
        merged: list[tuple[datetime, datetime]] = []
        for stretch_start, stretch_end in sorted([*self._swept, (start, end)]):
            if merged and stretch_start <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], stretch_end))
            else:
                merged.append((stretch_start, stretch_end))
        self._swept = merged

    def _fired(self, moment: datetime) -> bool:
        return any(start < moment <= end for start, end in self._swept)

    def wait_idle(self, timeout: float) -> bool:
        self.check()
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)

    @property
    def high_water(self) -> datetime:
        """The latest clock time the schedules have fired up to."""
        with self._lock:
            return max([self._last_check, *(end for _, end in self._swept)])

    @property
    def busy(self) -> bool:
        with self._lock:
            return self._pending > 0

    def _dispatch(self, schedule: Schedule) -> None:
        while True:
            moment, _ = schedule.queue.get()
            if self._stop.is_set():
                return
            try:
                self.fire(schedule, moment)
            except Exception:
                log.exception("schedule %s: firing failed", schedule.name)
            finally:
                with self._idle:
                    self._pending -= 1
                    self._idle.notify_all()

    # ------------------------------------------------------------------------------------------------
    def payload(self, schedule: Schedule, moment: datetime, execution_id: str, attempt: int) -> Any:
        scheduled = rfc3339(moment)
        if schedule.input is not None:
            if schedule.kind != "ScheduleV2":
                return json.loads(schedule.input)
            text = (
                schedule.input.replace("<aws.scheduler.scheduled-time>", scheduled)
                .replace("<aws.scheduler.execution-id>", execution_id)
                .replace("<aws.scheduler.schedule-arn>", schedule.arn)
                .replace("<aws.scheduler.attempt-number>", str(attempt))
            )
            return json.loads(text)
        if schedule.kind == "ScheduleV2":
            return {
                "time": scheduled,
                "source": "aws.scheduler",
                "detail-type": "Scheduled Event",
                "id": execution_id,
                "resources": [schedule.arn],
                "detail": {},
            }
        return {
            "version": "0",
            "id": execution_id,
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": self.runtime.catalog.account_id,
            "time": scheduled,
            "region": self.runtime.region,
            "resources": [schedule.arn],
            "detail": {},
        }

    def fire(self, schedule: Schedule, moment: datetime) -> dict[str, Any]:
        """Invoke the schedule's function for one occurrence, retrying like the scheduler would."""
        execution_id = str(uuid.uuid4())
        pool = self.runtime.pools[schedule.function_id]
        invocation = None
        for attempt in range(1, schedule.retries + 2):
            event = self.payload(schedule, moment, execution_id, attempt)
            invocation = pool.invoke(event, f"schedule {schedule.name} {rfc3339(moment)}")
            if invocation.ok or attempt > schedule.retries or self._stop.wait(min(2 ** (attempt - 1), 4)):
                break
        assert invocation is not None
        if not invocation.ok:
            log.error(
                "schedule %s: the occurrence at %s failed: %s", schedule.name, rfc3339(moment), invocation.error_message
            )
            if schedule.dead_letter_arn:
                sqs = self.runtime.moto.client("sqs")
                url = sqs.get_queue_url(QueueName=schedule.dead_letter_arn.rsplit(":", 1)[-1])["QueueUrl"]
                sqs.send_message(QueueUrl=url, MessageBody=json.dumps(event))
        return {
            "schedule": schedule.name,
            "function": schedule.function_id,
            "scheduled_time": rfc3339(moment),
            "execution_id": execution_id,
            "status": "succeeded" if invocation.ok else "failed",
            "duration_ms": round(invocation.duration_ms, 1),
            "response": invocation.payload if invocation.ok else None,
            "error": None if invocation.ok else invocation.error,
        }

    def run_now(self, schedule: Schedule) -> dict[str, Any]:
        with self._idle:
            self._pending += 1
        try:
            return self.fire(schedule, self.runtime.clock.now().replace(microsecond=0))
        finally:
            with self._idle:
                self._pending -= 1
                self._idle.notify_all()

    def find(self, name: str) -> Schedule | None:
        return next((s for s in self.schedules if name in (s.name, s.alias)), None)

    def _next_unfired(self, schedule: Schedule, now: datetime) -> datetime | None:
        for count, moment in enumerate(schedule.expression.occurrences(now)):
            if not self._fired(moment) or count > 100_000:
                return moment
        return None

    def describe(self) -> list[dict[str, Any]]:
        now = self.runtime.clock.now()
        result = []
        for schedule in self.schedules:
            upcoming = self._next_unfired(schedule, now) if schedule.enabled else None
            result.append(
                {
                    "name": schedule.name,
                    "alias": schedule.alias,
                    "function": schedule.function_id,
                    "type": schedule.kind,
                    "expression": schedule.expression_text,
                    "timezone": schedule.timezone,
                    "enabled": schedule.enabled,
                    "arn": schedule.arn,
                    "next_fire": rfc3339(upcoming) if upcoming else None,
                }
            )
        return result
