"""EventIngestFunction: S3 "Object Created" (via EventBridge) on the source bucket → one source file ingested.

The event is parsed by the layer's trigger adapter (``audiens.triggers.object_created``). The business time
is the event's ``time``, never the function's clock. A file that
is not under ``<account_id>/<source_id>/`` of an s3 source is logged and ignored.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from audiens.config import EventIngestSettings, configured
from audiens.observability import logger
from audiens.triggers import object_created
from audiens.wiring import ingest_service


@configured(EventIngestSettings)
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    created = object_created(event)
    if created is None:
        logger.warning("not an S3 Object Created event; ignored", extra={"detail_type": event.get("detail-type")})
        return {"status": "ignored", "key": ""}
    bucket, key = created.bucket, created.key
    record = ingest_service().ingest_file(
        bucket=bucket, key=key, etag=created.etag, size=created.size, now=created.time
    )
    if record is None:
        logger.warning("object is not a source file; ignored", extra={"bucket": bucket, "key": key})
        return {"status": "ignored", "key": key}
    logger.info(
        "source file ingested",
        extra={"key": key, "status": record.status, "rows": record.rows, "accepted": record.accepted},
    )
    return {"status": record.status, "file_id": record.file_id, "rows": record.rows, "accepted": record.accepted}
