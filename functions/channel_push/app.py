"""ChannelPushFunction: SQS batch of ``{"mapping_id", "version"}`` → the channel, with partial batch failures.

A failed push raises, so its message is reported as a batch item failure; before that the message's
visibility is set to an exponential back-off (30 s, 60 s, 120 s, … capped at 15 min) so retries are spaced,
and after the queue's maxReceiveCount receives SQS moves it to the dead-letter queue (the mapping then
shows ``dead_lettered``).

The push time is the wall clock, not a business time: it is signed into the body (``sent_at``) and the
``X-Audiens-Timestamp`` header, and receivers check it against their own clock to refuse replays.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from audiens.config import get_settings
from audiens.observability import count, logger, metrics
from audiens.wiring import channel_service, push_queue

# A batch whose pushes all failed is an expected outcome (a receiver is down), not a function error: every
# message is reported failed and retried the same way, without failing the invocation.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)

BACKOFF_BASE_SECONDS = 30
BACKOFF_MAX_SECONDS = 900


def backoff_seconds(receive_count: int) -> int:
    return int(min(BACKOFF_BASE_SECONDS * 2 ** max(receive_count - 1, 0), BACKOFF_MAX_SECONDS))


def _back_off(record: SQSRecord, receive_count: int) -> None:
    try:
        push_queue().delay_retry(record.receipt_handle, backoff_seconds(receive_count))
    except Exception:  # the retry still happens, after the queue's own visibility timeout
        logger.warning("could not delay the retry", extra={"message_id": record.message_id})


def _push(record: SQSRecord) -> None:
    receive_count = int(record.attributes.approximate_receive_count or 1)
    try:
        message = json.loads(record.body)
        mapping_id, version = str(message["mapping_id"]), int(message["version"])
        outcome = channel_service().push(mapping_id, version, receive_count=receive_count, now=datetime.now(UTC))
    except Exception:
        count("ChannelPushesFailed")
        if receive_count >= get_settings().channel_push_max_receives:
            count("ChannelPushesDeadLettered")
        _back_off(record, receive_count)
        raise
    logger.info("push processed", extra={"mapping_id": mapping_id, "version": version, "outcome": outcome})


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return process_partial_response(event=event, record_handler=_push, processor=processor, context=context)
