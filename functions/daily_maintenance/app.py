"""DailyMaintenanceFunction: the daily schedule. Time is the schedule's ``time``, never the clock.

Expires accounts never activated, then fans the segments out: their ids in pages of ``PAGE_SIZE``, one
SQS message each (SendMessageBatch of 10), for DailySegmentsFunction to snapshot and expire. The schedule
itself reads only the segment ids (one index query), so 100,000 segments are 1,000 messages in seconds; a
retried schedule sends the pages again and the workers skip what is already done.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from audiens.config import DailyMaintenanceSettings, configured
from audiens.observability import logger
from audiens.triggers import schedule_event
from audiens.wiring import accounts_service, audience_service, daily_pages_queue

PAGE_SIZE = 100  # segments per message: one page is well within the worker's 120 s


@configured(DailyMaintenanceSettings)
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    now = schedule_event(event).time
    expired = accounts_service().expire_unactivated(now=now)
    pages, segments, calls = audience_service().fan_out_daily(daily_pages_queue(), now=now, page_size=PAGE_SIZE)
    done = {"expired_accounts": expired, "segment_pages": pages, "segments": segments, "send_calls": calls}
    logger.info("daily maintenance fanned out", extra={"time": now.isoformat(), **done})
    return {"time": now.isoformat(), **done}
