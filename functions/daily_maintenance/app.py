"""DailyMaintenanceFunction: the daily schedule. Time is the schedule's ``time``, never the clock.

Expires accounts never activated, then fans the segments out: their ids in pages of ``PAGE_SIZE``, one
SQS message each (SendMessageBatch of 10), for DailySegmentsFunction to snapshot and expire. The schedule
itself reads only the segment ids (one index query), so 100,000 segments are 1,000 messages in seconds; a
retried schedule sends the pages again and the workers skip what is already done.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from audiens.config import get_settings
from audiens.dal.aws import SqsPages
from audiens.observability import logger
from audiens.wiring import accounts_service, audience_service

PAGE_SIZE = 100  # segments per message: one page is ~20 s of population estimates at worst


def scheduled_time(event: dict[str, Any]) -> datetime:
    value = str(event["time"]).replace("Z", "+00:00")
    return datetime.fromisoformat(value).astimezone(UTC)


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    now = scheduled_time(event)
    settings = get_settings()
    expired = accounts_service().expire_unactivated(now=now)
    queue = SqsPages(settings.require("daily_segments_queue_url"), settings.region)
    pages = segments = calls = 0
    batch: list[dict[str, Any]] = []
    for page in audience_service().daily_pages(PAGE_SIZE):
        batch.append({"time": now.isoformat(), "segment_ids": page})
        pages, segments = pages + 1, segments + len(page)
        if len(batch) == SqsPages.BATCH:
            calls += queue.send(batch)
            batch = []
    calls += queue.send(batch)
    done = {"expired_accounts": expired, "segment_pages": pages, "segments": segments, "send_calls": calls}
    logger.info("daily maintenance fanned out", extra={"time": now.isoformat(), **done})
    return {"time": now.isoformat(), **done}
