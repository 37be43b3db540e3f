"""UsageIngestFunction: S3 "Object Created" (via EventBridge) on the usage bucket → one usage file processed.

The detail is parsed by hand: moto's events lack fields Powertools' S3 models require, and object keys
arrive URL-encoded. The business time (the reporting window) is the event's ``time``, never the clock.
Every file ends ``accepted``, ``rejected`` or ``duplicate`` on its upload record; only an unexpected
failure raises, so Lambda retries the event and finally sends it to the function's dead-letter queue.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote_plus

from aws_lambda_powertools.utilities.typing import LambdaContext

from audiens.domain.time import parse_timestamp
from audiens.observability import count, logger, metrics
from audiens.services.usage import ObjectCreated, UsageService
from audiens.wiring import usage_service


def event_time(event: dict[str, Any]) -> datetime:
    value = event.get("time")
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, tz=UTC)  # moto stamps epoch seconds
    return parse_timestamp(str(value) if value is not None else "")


def parse_object_created(event: dict[str, Any]) -> ObjectCreated | None:
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


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(
    event: dict[str, Any], context: LambdaContext, service: UsageService | None = None
) -> dict[str, Any]:
    created = parse_object_created(event)
    if created is None:
        logger.warning("not an S3 Object Created event; ignored", extra={"detail_type": event.get("detail-type")})
        return {"status": "ignored"}
    record = (service or usage_service()).ingest(created)
    if record is None:
        return {"status": "ignored", "key": created.key}
    count(f"UsageFiles{record.status.title()}")  # UsageFilesAccepted | UsageFilesRejected | UsageFilesDuplicate
    if record.status != "duplicate":
        count("UsageRowsAccepted", record.accepted_rows)
        count("UsageRowsRejected", record.rejected_rows)
    return {
        "status": record.status,
        "upload_id": record.upload_id,
        "rows": record.rows,
        "accepted_rows": record.accepted_rows,
        "rejected_rows": record.rejected_rows,
        "changed": record.changed,
        "errors": len(record.errors),
    }
