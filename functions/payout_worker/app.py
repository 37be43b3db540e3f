"""PayoutWorkerFunction: SQS batch of ``{run_id, period, provider_id}`` → one payout each, partial failures.

The worker that stores the last payout completes the run and closes the period. The batch goes through the
layer's SQS job adapter (``audiens.triggers.sqs_jobs``) to the billing job runner (``services.billing_jobs``),
which records a job on its last allowed delivery before the batch runs.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.typing import LambdaContext

from audiens.config import PayoutWorkerSettings, configured
from audiens.observability import logger, metrics
from audiens.ports.jobs import PayoutJob
from audiens.triggers import sqs_jobs
from audiens.wiring import billing_jobs

_payouts = sqs_jobs(PayoutJob, billing_jobs)


@configured(PayoutWorkerSettings)
@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return _payouts(event, context)
