"""Trigger adapters: one typed parser per kind of event a function receives, used by every handler.

* S3 "Object Created" delivered by EventBridge (the usage and source buckets) → :class:`ObjectCreated`.
  Parsed here rather than with Powertools' S3 models: moto's events lack fields those models require,
  object keys arrive URL-encoded, and moto stamps ``time`` as epoch seconds where AWS writes RFC 3339.
* EventBridge Scheduler events (``{"time", "schedule"}``) → :class:`ScheduleEvent`.
* SQS records → the job message model of the queue (``ports.jobs``), with the delivery count and send time;
  :func:`sqs_jobs` makes a whole SQS handler of it: a batch of typed deliveries handed to a service's
  :class:`JobBatch` (the batch first, then each job), with partial batch failures.

Time is always the event's (``domain.time`` parses it), never the function's clock.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import unquote_plus

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from audiens.domain.time import parse_timestamp
from audiens.ports.events import ObjectCreated
from audiens.ports.jobs import JobMessage

__all__ = [
    "Delivery",
    "JobBatch",
    "ScheduleEvent",
    "delivery",
    "event_time",
    "object_created",
    "schedule_event",
    "sqs_jobs",
]


def event_time(event: Mapping[str, Any]) -> datetime:
    """An EventBridge event's ``time``: RFC 3339, or epoch seconds as moto stamps it."""
    value = event.get("time")
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, tz=UTC)
    return parse_timestamp(str(value) if value is not None else "")


def object_created(event: Mapping[str, Any]) -> ObjectCreated | None:
    """The object of an S3 "Object Created" event, or ``None`` for any other event."""
    if event.get("source") != "aws.s3" or event.get("detail-type") != "Object Created":
        return None
    detail = event.get("detail") or {}
    obj = detail.get("object") or {}
    size = obj.get("size")
    return ObjectCreated(
        bucket=str((detail.get("bucket") or {}).get("name", "")),
        key=unquote_plus(str(obj.get("key", ""))),
        etag=str(obj.get("etag") or obj.get("eTag") or "").strip('"'),
        size=int(size) if size is not None else None,
        time=event_time(event),
        version_id=obj.get("version-id") or None,
        sequencer=obj.get("sequencer") or None,
        requester=str(detail["requester"]) if detail.get("requester") else None,
    )


@dataclass(frozen=True, slots=True)
class ScheduleEvent:
    """A schedule's invocation: its scheduled ``time`` and the ``schedule`` name its input carries."""

    time: datetime
    schedule: str | None = None


def schedule_event(event: Mapping[str, Any]) -> ScheduleEvent:
    schedule = event.get("schedule")
    return ScheduleEvent(time=event_time(event), schedule=str(schedule) if schedule else None)


@dataclass(frozen=True, slots=True)
class Delivery[M: JobMessage]:
    """One SQS delivery of a job: the message, how many times it was received, when it was sent."""

    job: M
    receive_count: int
    sent_at: datetime


def delivery[M: JobMessage](record: SQSRecord, model: type[M]) -> Delivery[M]:
    """The record's job message validated against its queue's model (a poison message raises)."""
    return Delivery(
        job=model.model_validate_json(record.body),
        receive_count=int(record.attributes.approximate_receive_count or 1),
        sent_at=datetime.fromtimestamp(int(record.attributes.sent_timestamp) / 1000, tz=UTC),
    )


class JobBatch[M: JobMessage](Protocol):
    """What :func:`sqs_jobs` hands a batch to: its valid deliveries first, then each delivery to run (raising
    fails that record alone)."""

    def start_batch(self, deliveries: Sequence[Delivery[M]], /) -> None: ...

    def run(self, delivery: Delivery[M], /) -> object: ...


def sqs_jobs[M: JobMessage](
    model: type[M], jobs: Callable[[], JobBatch[M]]
) -> Callable[[dict[str, Any], LambdaContext], PartialItemFailureResponse]:
    """An SQS handler of ``model`` jobs run by ``jobs()``, with partial batch failures: a poison message (not a
    valid ``model``) is left out of the batch's deliveries and fails on its own, the other records commit."""
    processor = BatchProcessor(event_type=EventType.SQS)

    def handle(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
        runner = jobs()
        deliveries = []
        for raw in event.get("Records") or []:
            try:
                deliveries.append(delivery(SQSRecord(raw), model))
            except ValueError:
                continue  # a poison message fails on its own, below
        runner.start_batch(deliveries)

        def record_handler(record: SQSRecord) -> object:
            return runner.run(delivery(record, model))

        return process_partial_response(
            event=event, record_handler=record_handler, processor=processor, context=context
        )

    return handle
