"""BillingDocumentsFunction and UsageRemindersFunction: the billing documents and messages.

* ``lambda_handler``: SQS batch of document jobs (``ports.jobs.DocumentJob``) → the issued document's number,
  its PDF in the documents bucket and its email, with partial batch failures (a poison job goes to the DLQ);
* ``reminders_handler``: the schedules of the 1st and the 4th → the usage reminders of the day.

Time comes from the trigger: the message's sent timestamp, or the schedule's ``time``.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from audiens.config import BillingDocumentsSettings, UsageRemindersSettings, configured
from audiens.domain.time import rfc3339
from audiens.observability import count, logger, metrics
from audiens.ports.jobs import DocumentJob
from audiens.triggers import delivery, schedule_event
from audiens.wiring import billing_documents_service

processor = BatchProcessor(event_type=EventType.SQS)


def _document(record: SQSRecord) -> None:
    job = delivery(record, DocumentJob)
    outcome = billing_documents_service().process_job(job.job, job.sent_at)
    if outcome == "created":
        count("BillingDocumentsIssued")
    logger.info("document job", extra={"job": job.job.model_dump(mode="json"), "outcome": outcome})


@configured(BillingDocumentsSettings)
@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=_document, processor=processor, context=context)


@configured(UsageRemindersSettings)
@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def reminders_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    now = schedule_event(event).time
    result = billing_documents_service().send_usage_reminders(now)
    count("UsageRemindersSent", result.sent)
    return {
        "time": rfc3339(now),
        "kind": result.kind,
        "period": str(result.period) if result.period else None,
        "candidates": result.candidates,
        "sent": result.sent,
    }
