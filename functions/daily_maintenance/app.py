"""DailyMaintenanceFunction: the daily schedule. Time is the schedule's ``time``, never the clock."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from audiens.observability import logger
from audiens.triggers import schedule_event
from audiens.wiring import accounts_service, audience_service


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    now = schedule_event(event).time
    expired = accounts_service().expire_unactivated(now=now)
    segments = audience_service().run_daily(now=now)  # population snapshots + segment expiry
    done = {
        "expired_accounts": expired,
        "segment_snapshots": segments.snapshots,
        "expired_segments": segments.expired,
    }
    logger.info("daily maintenance done", extra={"time": now.isoformat(), **done})
    return {"time": now.isoformat(), **done}
