"""PixelIngestFunction: queued pixel hits (``PixelHitJob``) counted in batches through the ingestion path.

The batch (up to 96 hits, gathered for up to 5 s) is ingested at once: one batch per source and arrival
minute, a marker per hit, so a hit is counted exactly once however often it is delivered. The hits of a
group that failed are reported as partial batch failures (their messages come back, and after 5 receives
go to the dead-letter queue, which is alarmed); a message that is not a hit fails on its own.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from audiens.config import PixelIngestSettings, configured
from audiens.observability import logger
from audiens.ports.jobs import PixelHitJob
from audiens.triggers import delivery
from audiens.wiring import pixel_service

# every failure is a partial batch failure, even when the whole batch failed: only those messages come back
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


class HitNotCounted(Exception):
    """The hit's group failed; the message is returned to the queue."""


@configured(PixelIngestSettings)
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    hits: list[tuple[str, PixelHitJob]] = []
    for raw in event.get("Records", []):
        record = SQSRecord(raw)
        try:
            hits.append((record.message_id, delivery(record, PixelHitJob).job))
        except ValueError:  # a poison message: fails below, on its own
            continue
    report = pixel_service().ingest_hits(hits)
    good = {item_id for item_id, _ in hits}
    failed = set(report.failed)

    def settle(record: SQSRecord) -> None:
        if record.message_id not in good:
            raise ValueError(f"message {record.message_id} is not a pixel hit")
        if record.message_id in failed:
            raise HitNotCounted(record.message_id)

    result = process_partial_response(event=event, record_handler=settle, processor=processor, context=context)
    logger.info(
        "pixel hits",
        extra={
            "hits": len(hits),
            "counted": report.counted,
            "duplicates": report.duplicates,
            "ignored": report.ignored,
            "failed": len(report.failed),
        },
    )
    return {**result, "counted": report.counted, "duplicates": report.duplicates, "failed": len(report.failed)}
