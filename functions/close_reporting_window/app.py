"""CloseReportingWindowFunction: the monthly schedule (00:00 UTC on the 6th) closes the previous month.

The period comes from the event's ``time`` (the scheduled time), never from the clock: a late or retried
delivery closes the same month, and a second delivery finds the run and changes nothing.

A second schedule (``"schedule": "close-check"``, at CloseDeadlineHour on the 6th) only looks: it records
the metric ``CloseNotCompleted`` (1 when the previous month's run is missing or not ``completed``, else 0),
which the ``CloseNotCompletedAlarm`` of template.yaml watches.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from audiens.config import CloseReportingWindowSettings, configured
from audiens.domain.periods import Period
from audiens.domain.time import rfc3339
from audiens.errors import NotFoundError
from audiens.observability import count, logger, metrics
from audiens.triggers import schedule_event
from audiens.wiring import billing_service


def check_close(now: datetime) -> dict[str, Any]:
    period = Period.of(now).previous()
    status: str
    try:
        status = billing_service().run_report(period).run.status
    except NotFoundError:
        status = "missing"
    completed = status == "completed"
    count("CloseNotCompleted", 0 if completed else 1)
    if not completed:
        logger.error("the monthly close is not completed", extra={"period": str(period), "status": status})
    return {"time": rfc3339(now), "period": str(period), "status": status, "completed": completed}


@configured(CloseReportingWindowSettings)
@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    scheduled = schedule_event(event)
    now = scheduled.time
    if scheduled.schedule == "close-check":
        return check_close(now)
    result = billing_service().close(now=now, trigger=scheduled.schedule or "schedule")
    run = result.run
    summary = {
        "time": rfc3339(now),
        "period": str(run.period),
        "run_id": run.run_id,
        "status": run.status,
        "created": result.created,
        "expected_invoices": run.expected_invoices,
        "invoice_jobs_sent": result.invoice_jobs,
        "payout_jobs_sent": result.payout_jobs,
        "send_calls": result.send_calls,
    }
    logger.info("monthly close", extra={"close": summary})
    return summary
