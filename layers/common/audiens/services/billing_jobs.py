"""One billing job delivery (invoice or payout), and what happens when it fails for good.

A job failing on its last allowed delivery is recorded on the run (``failed_jobs``) before SQS moves it to
the dead-letter queue, so the run reports it instead of hanging silently; an earlier failure is only
raised, and SQS delivers the job again. Both workers run their jobs through :func:`run_job`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from audiens.domain.periods import Period
from audiens.observability import count, logger
from audiens.ports.billing import JobKind
from audiens.ports.jobs import InvoiceJob, PayoutJob
from audiens.services.billing import JobOutcome, RunCache

__all__ = ["JobProcessor", "run_job"]

_ISSUED_METRIC = {"invoice": "InvoicesIssued", "payout": "PayoutsIssued"}


class JobProcessor(Protocol):
    """What running a job needs of ``BillingService``."""

    def process_invoice_job(
        self, *, run_id: str, period: Period, buyer_id: str, now: datetime, runs: RunCache | None = None
    ) -> JobOutcome: ...

    def process_payout_job(
        self, *, run_id: str, period: Period, provider_id: str, now: datetime, runs: RunCache | None = None
    ) -> JobOutcome: ...

    def record_failure(
        self, *, kind: JobKind, period: Period, entity_id: str, error: str, attempts: int, now: datetime
    ) -> None: ...


def run_job(
    service: JobProcessor,
    job: InvoiceJob | PayoutJob,
    *,
    attempts: int,
    max_attempts: int,
    now: datetime,
    runs: RunCache | None = None,
) -> JobOutcome:
    """Run one delivery of the job; on its last allowed delivery a failure is recorded on the run, then raised."""
    kind: JobKind = "invoice" if isinstance(job, InvoiceJob) else "payout"
    entity_id = job.buyer_id if isinstance(job, InvoiceJob) else job.provider_id
    logged = job.model_dump(mode="json")
    try:
        if isinstance(job, InvoiceJob):
            outcome = service.process_invoice_job(
                run_id=job.run_id, period=job.period, buyer_id=job.buyer_id, now=now, runs=runs
            )
        else:
            outcome = service.process_payout_job(
                run_id=job.run_id, period=job.period, provider_id=job.provider_id, now=now, runs=runs
            )
    except Exception as error:
        if attempts >= max_attempts:
            logger.exception(f"{kind} job failed for good; it goes to the DLQ", extra={"job": logged})
            count("BillingJobsDeadLettered")
            service.record_failure(
                kind=kind, period=job.period, entity_id=entity_id, error=repr(error), attempts=attempts, now=now
            )
        raise
    if outcome == "created":
        count(_ISSUED_METRIC[kind])
    logger.info(f"{kind} job", extra={"job": logged, "outcome": outcome})
    return outcome
