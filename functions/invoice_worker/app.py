"""InvoiceWorkerFunction: SQS batch of ``{run_id, period, buyer_id}`` → one invoice each, partial failures.

The layer's SQS job adapter (``audiens.triggers.sqs_jobs``) hands the batch to the billing job runner
(``services.billing_jobs``), which owns the rules: a job on its last allowed delivery is recorded on the run
before the batch runs, a success resolves that record, an exception overwrites it with its error.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.typing import LambdaContext

from audiens.config import InvoiceWorkerSettings, configured
from audiens.observability import logger, metrics
from audiens.ports.jobs import InvoiceJob
from audiens.triggers import sqs_jobs
from audiens.wiring import billing_jobs

_invoices = sqs_jobs(InvoiceJob, billing_jobs)


@configured(InvoiceWorkerSettings)
@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return _invoices(event, context)
