"""One billing job delivery (invoice or payout), and what happens when it fails for good.

A job failing on its last allowed delivery is recorded on the run (``failed_jobs``) before SQS moves it to
the dead-letter queue, so the run reports it instead of hanging silently; an earlier failure is only
raised, and SQS delivers the job again. A job on its last allowed delivery is recorded *before* its batch
runs (a worker killed at its timeout can record nothing afterwards); a success then resolves the record,
an exception overwrites it with its error. Both workers run their batches through :class:`BillingJobRunner`
(the layer's SQS job adapter, ``audiens.triggers.sqs_jobs``, hands it the deliveries).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from audiens.domain.periods import Period
from audiens.observability import count, logger
from audiens.ports.billing import JobKind
from audiens.ports.jobs import InvoiceJob, PayoutJob
from audiens.services.billing import JobOutcome, RunCache

__all__ = ["BillingJobRunner", "JobDelivery", "JobProcessor", "record_last_deliveries", "run_job"]

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

    def record_last_deliveries(self, kind: JobKind, jobs: list[tuple[Period, str, int, datetime]]) -> None: ...


def record_last_deliveries(
    service: JobProcessor, deliveries: Sequence[tuple[InvoiceJob | PayoutJob, int, datetime]], *, max_attempts: int
) -> None:
    """Record the batch's jobs on their last allowed delivery as failed *before* the batch runs (``deliveries``:
    job, receive count, sent time): a worker killed at its timeout can record nothing afterwards, and a job
    that then succeeds resolves its record (its document exists)."""
    last: dict[JobKind, list[tuple[Period, str, int, datetime]]] = {"invoice": [], "payout": []}
    for job, attempts, sent_at in deliveries:
        if attempts < max_attempts:
            continue
        if isinstance(job, InvoiceJob):
            last["invoice"].append((job.period, job.buyer_id, attempts, sent_at))
        else:
            last["payout"].append((job.period, job.provider_id, attempts, sent_at))
    for kind, jobs in last.items():
        if jobs:
            service.record_last_deliveries(kind, jobs)


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


class JobDelivery(Protocol):
    """One SQS delivery of a billing job (``audiens.triggers.Delivery``)."""

    @property
    def job(self) -> InvoiceJob | PayoutJob: ...

    @property
    def receive_count(self) -> int: ...

    @property
    def sent_at(self) -> datetime: ...


class BillingJobRunner:
    """A worker's billing jobs, batch by batch: the last deliveries recorded first, then each job run (the
    batch's run read once, cached until the next batch). ``max_attempts`` is the queue's maxReceiveCount."""

    def __init__(self, service: JobProcessor, *, max_attempts: int) -> None:
        self._service = service
        self._max_attempts = max_attempts
        self._runs: RunCache = {}

    def start_batch(self, deliveries: Sequence[JobDelivery]) -> None:
        self._runs = {}
        found = [(d.job, d.receive_count, d.sent_at) for d in deliveries]
        record_last_deliveries(self._service, found, max_attempts=self._max_attempts)

    def run(self, delivery: JobDelivery) -> JobOutcome:
        return run_job(
            self._service,
            delivery.job,
            attempts=delivery.receive_count,
            max_attempts=self._max_attempts,
            now=delivery.sent_at,
            runs=self._runs,
        )
