"""InvoiceWorkerFunction: SQS batch of ``{run_id, period, buyer_id}`` → one invoice each, partial failures.

A job that fails on its last allowed delivery is recorded on the run (``failed_jobs``) before it goes to
the dead-letter queue, so the run reports it (``services.billing_jobs``); the other records of the batch
commit regardless.
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
from audiens.services.billing_jobs import run_job
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
    return process_partial_response(event=event, record_handler=_invoice, processor=processor, context=context)
