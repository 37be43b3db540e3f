"""EventIngestFunction: S3 "Object Created" (via EventBridge) on the source bucket → one source file ingested.

The detail is parsed by hand: moto's events lack fields Powertools' S3 models require, and object keys
arrive URL-encoded. The business time is the event's ``time``, never the function's clock. A file that
is not under ``<account_id>/<source_id>/`` of an s3 source is logged and ignored.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import unquote_plus

from aws_lambda_powertools.utilities.typing import LambdaContext

from audiens.domain.time import parse_timestamp
from audiens.observability import logger
from audiens.wiring import ingest_service


def _event_time(event: dict[str, Any]) -> datetime:
    return parse_timestamp(str(event["time"]))


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    detail = event.get("detail") or {}
    bucket = str((detail.get("bucket") or {}).get("name", ""))
    obj = detail.get("object") or {}
    key = unquote_plus(str(obj.get("key", "")))
    etag = str(obj.get("etag") or obj.get("eTag") or "").strip('"')
    size = obj.get("size")
    record = ingest_service().ingest_file(
        bucket=bucket, key=key, etag=etag, size=int(size) if size is not None else None, now=_event_time(event)
    )
    if record is None:
        logger.warning("object is not a source file; ignored", extra={"bucket": bucket, "key": key})
        return {"status": "ignored", "key": key}
    logger.info(
        "source file ingested",
        extra={"key": key, "status": record.status, "rows": record.rows, "accepted": record.accepted},
    )
    return {"status": record.status, "file_id": record.file_id, "rows": record.rows, "accepted": record.accepted}
