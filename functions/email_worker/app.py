"""EmailWorkerFunction: SQS batch of ``{"email_id"}`` → SES, with partial batch failures."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from audiens.config import EmailWorkerSettings, configured
from audiens.observability import logger
from audiens.ports.jobs import EmailJob
from audiens.triggers import delivery
from audiens.wiring import accounts_service

processor = BatchProcessor(event_type=EventType.SQS)


def _send(record: SQSRecord) -> None:
    email_id = delivery(record, EmailJob).job.email_id
    sent = accounts_service().send_email(email_id)
    logger.info("email processed", extra={"email_id": email_id, "sent": sent})


@configured(EmailWorkerSettings)
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=_send, processor=processor, context=context)
