"""InvoiceWorkerFunction: SQS batch of ``{run_id, period, buyer_id}`` → one invoice each, partial failures.

A job on its last allowed delivery is recorded on the run (``failed_jobs``) before the batch runs, so a
timeout or crash (after which nothing can be recorded) still leaves it reported when it goes to the
dead-letter queue; a job that then succeeds resolves its record, an exception overwrites it with its error
(``services.billing_jobs``). The other records of the batch commit regardless.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from audiens.config import get_settings
from audiens.observability import logger, metrics
from audiens.ports.jobs import InvoiceJob
from audiens.services.billing import RunCache
from audiens.services.billing_jobs import record_last_deliveries, run_job
from audiens.triggers import delivery
from audiens.wiring import billing_service

processor = BatchProcessor(event_type=EventType.SQS)
_runs: RunCache = {}  # the run, read once per invocation (cleared at each one)


def _invoice(record: SQSRecord) -> None:
    job = delivery(record, InvoiceJob)
    max_attempts = get_settings().billing_job_max_receives
    run_job(
        billing_service(), job.job, attempts=job.receive_count, max_attempts=max_attempts, now=job.sent_at, runs=_runs
    )


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    _runs.clear()
    deliveries = []
    for raw in event.get("Records") or []:
        try:
            found = delivery(SQSRecord(raw), InvoiceJob)
        except ValueError:
            continue  # a poison message fails on its own, below
        deliveries.append((found.job, found.receive_count, found.sent_at))
    # Recorded before the batch runs: a timeout or crash cannot skip the record; a success resolves it.
    record_last_deliveries(billing_service(), deliveries, max_attempts=get_settings().billing_job_max_receives)
    return process_partial_response(event=event, record_handler=_invoice, processor=processor, context=context)
