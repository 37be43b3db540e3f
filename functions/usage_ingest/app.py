"""UsageIngestFunction: S3 "Object Created" (via EventBridge) on the usage bucket → one usage file processed.

The event is parsed by the layer's trigger adapter (``audiens.triggers.object_created``). The business time
(the reporting window) is the event's ``time``, never the clock.
Every file ends ``accepted``, ``rejected`` or ``duplicate`` on its upload record; only an unexpected
failure raises, so Lambda retries the event and finally sends it to the function's dead-letter queue.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from audiens.config import UsageIngestSettings, configured
from audiens.observability import count, logger, metrics
from audiens.services.usage import UsageService
from audiens.triggers import object_created
from audiens.wiring import usage_service


@configured(UsageIngestSettings)
@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(
    event: dict[str, Any], context: LambdaContext, service: UsageService | None = None
) -> dict[str, Any]:
    created = object_created(event)
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
