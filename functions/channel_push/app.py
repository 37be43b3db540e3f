"""ChannelPushFunction: SQS batch of ``{"mapping_id", "version"}`` → the channel, with partial batch failures.

A failed push raises, so its message is reported as a batch item failure; before that the message's
visibility is set to an exponential back-off (30 s, 60 s, 120 s, … capped at 15 min; the rule is
``services.channels.push_delivery``) so retries are spaced, and after the queue's maxReceiveCount receives
SQS moves it to the dead-letter queue (the mapping then shows ``dead_lettered``).

The push time is the wall clock, not a business time: it is signed into the body (``sent_at``) and the
``X-Audiens-Timestamp`` header, and receivers check it against their own clock to refuse replays.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from audiens.config import ChannelPushSettings, configured, load
from audiens.observability import logger, metrics
from audiens.services.channels import push_delivery
from audiens.wiring import channel_service, push_queue

# A batch whose pushes all failed is an expected outcome (a receiver is down), not a function error: every
# message is reported failed and retried the same way, without failing the invocation.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


def _back_off(record: SQSRecord, seconds: int) -> None:
    try:
        push_queue().delay_retry(record.receipt_handle, seconds)
    except Exception:  # the retry still happens, after the queue's own visibility timeout
        logger.warning("could not delay the retry", extra={"message_id": record.message_id})


def _push(record: SQSRecord) -> None:
    job, outcome = push_delivery(
        lambda: channel_service(),
        record.body,
        receive_count=int(record.attributes.approximate_receive_count or 1),
        max_receives=load(ChannelPushSettings).channel_push_max_receives,
        now=datetime.now(UTC),
        delay_retry=lambda seconds: _back_off(record, seconds),
    )
    logger.info("push processed", extra={"mapping_id": job.mapping_id, "version": job.version, "outcome": outcome})


@configured(ChannelPushSettings)
@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=_push, processor=processor, context=context)
