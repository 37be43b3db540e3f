"""PayoutWorkerFunction: SQS batch of ``{run_id, period, provider_id}`` → one payout each, partial failures.

The worker that stores the last payout completes the run and closes the period. A job on its last allowed
delivery is recorded on the run before the batch runs (a timeout cannot skip the record; success resolves it).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from audiens.config import get_settings
from audiens.domain.periods import Period
from audiens.errors import AppError
from audiens.observability import count, logger, metrics
from audiens.services.billing import RunCache
from audiens.wiring import billing_service

processor = BatchProcessor(event_type=EventType.SQS)
_runs: RunCache = {}  # the run, read once per invocation (cleared at each one)


def _sent_at(record: SQSRecord) -> datetime:
    return datetime.fromtimestamp(int(record.attributes.sent_timestamp) / 1000, tz=UTC)


def _last_deliveries(event: dict[str, Any]) -> list[tuple[Period, str, int, datetime]]:
    """The batch's jobs on their last allowed delivery (a malformed one is left to fail on its own)."""
    limit = get_settings().billing_job_max_receives
    found = []
    for raw in event.get("Records") or []:
        record = SQSRecord(raw)
        attempts = int(record.attributes.approximate_receive_count)
        if attempts < limit:
            continue
        try:
            job = json.loads(record.body)
            found.append((Period.parse(job["period"]), str(job["provider_id"]), attempts, _sent_at(record)))
        except (ValueError, KeyError, TypeError, AppError):
            continue
    return found


def _payout(record: SQSRecord) -> None:
    job = json.loads(record.body)
    period = Period.parse(job["period"])
    now = _sent_at(record)
    service = billing_service()
    try:
        outcome = service.process_payout_job(
            run_id=job["run_id"], period=period, provider_id=job["provider_id"], now=now, runs=_runs
        )
    except Exception as error:
        attempts = int(record.attributes.approximate_receive_count)
        if attempts >= get_settings().billing_job_max_receives:
            logger.exception("payout job failed for good; it goes to the DLQ", extra={"job": job})
            count("BillingJobsDeadLettered")
            service.record_failure(
                kind="payout",
                period=period,
                entity_id=job["provider_id"],
                error=repr(error),
                attempts=attempts,
                now=now,
            )
        raise
    if outcome == "created":
        count("PayoutsIssued")
    logger.info("payout job", extra={"job": job, "outcome": outcome})


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    _runs.clear()
    last = _last_deliveries(event)
    if last:  # recorded before they run: a timeout or crash cannot skip the record
        billing_service().record_last_deliveries("payout", last)
    return process_partial_response(event=event, record_handler=_payout, processor=processor, context=context)
