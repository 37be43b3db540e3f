"""CloseReportingWindowFunction: the monthly schedule (00:00 UTC on the 6th) closes the previous month.

The period comes from the event's ``time`` (the scheduled time), never from the clock: a late or retried
delivery closes the same month, and a second delivery finds the run and changes nothing.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from audiens.domain.periods import parse_timestamp, rfc3339
from audiens.observability import logger
from audiens.wiring import billing_service


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    now = parse_timestamp(str(event["time"]))
    result = billing_service().close(now=now, trigger=str(event.get("schedule") or "schedule"))
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
