"""DailySegmentsFunction: one page of the daily job (``DailyPageJob``: the schedule's time, segment ids).

Each segment's population is snapshotted once per date (a segment already snapshotted is skipped before
its population is computed) and segments past their expiry are expired and removed from their channels.
A page that fails is retried and finally dead-lettered (alarmed); the rest of the batch commits regardless
(partial batch responses).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from audiens.config import DailySegmentsSettings, configured
from audiens.observability import logger
from audiens.ports.jobs import DailyPageJob
from audiens.triggers import delivery
from audiens.wiring import audience_service

processor = BatchProcessor(event_type=EventType.SQS)
_done = {"snapshots": 0, "expired": 0}


def _page(record: SQSRecord) -> None:
    page = delivery(record, DailyPageJob).job
    report = audience_service().run_daily_segments(page.segment_ids, now=page.time)
    _done["snapshots"] += report.snapshots
    _done["expired"] += report.expired
    extra = {"segments": report.segments, "snapshots": report.snapshots, "expired": report.expired}
    logger.info("daily page", extra=extra)


@configured(DailySegmentsSettings)
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    _done.update(snapshots=0, expired=0)
    result = process_partial_response(event=event, record_handler=_page, processor=processor, context=context)
    return {**result, "segment_snapshots": _done["snapshots"], "expired_segments": _done["expired"]}
