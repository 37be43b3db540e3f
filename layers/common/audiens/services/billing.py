"""The monthly close (DOMAIN.md §9): close → invoice jobs → fan-in → payout jobs → completed.

One service runs every step, whoever triggers it (the schedule, the operator's POST, an SQS worker), and
every step is safe to repeat: the state that decides what happens next is always re-read from the store,
and every write that must happen once is conditional there. A step that dies half-way is finished by the
next delivery of the same message, or by invoking the close again:

* close: period OPEN → CLOSING (usage frozen), the run and its buyer snapshot created once, one invoice job
  per buyer without an invoice sent (all of them the first time);
* invoice job: the invoice is computed from the frozen inputs and stored with its provider slices and a
  counter increment in one transaction; then the fan-in: when the counters reach the number of buyers,
  the payout plan (the providers paid in the period) is fixed once and one payout job per provider sent;
* payout job: the payout is built from the provider's slices and stored with its counter increment; when
  the last one is stored the run completes and the period is CLOSED, in one transaction.

Time always comes from the trigger (schedule ``time``, request time, the message's sent timestamp).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Literal

from audiens.domain.credit_notes import CreditAdjustment, as_payout_line
from audiens.domain.invoicing import (
    GroupBy,
    Invoice,
    Party,
    Payout,
    ReportRow,
    RevenueGroup,
    build_invoice,
    build_payout,
    invoice_id_for,
    payout_id_for,
    provider_slices,
    revenue_groups,
    run_id_for,
)
from audiens.domain.money import minor_units
from audiens.domain.periods import DEFAULT_DUE_DAY, Period, period_to_close, window
from audiens.domain.time import rfc3339
from audiens.errors import ConflictError, NotFoundError, ValidationError
from audiens.observability import logger
from audiens.ports.billing import (
    BillingInputs,
    BillingJobs,
    BillingRun,
    BillingStore,
    FailedJob,
    JobKind,
    RunCounts,
    StoredInvoice,
    StoredPayout,
    UsageFreeze,
)
from audiens.services.billing_lookups import invoice_inputs

InvoiceStatus = Literal["draft", "issued", "void"]
JobOutcome = Literal["created", "duplicate", "skipped"]
MAX_PAGE = 100


RunCache = dict[str, BillingRun]
"""Runs by period, read once per Lambda invocation (see ``process_invoice_job``)."""


class StaleJobError(RuntimeError):
    """A job names a run that does not exist (or another run of the period): it must not be processed."""


@dataclass(frozen=True)
class CloseResult:
    run: BillingRun
    created: bool
    invoice_jobs: int = 0
    payout_jobs: int = 0
    send_calls: int = 0


@dataclass(frozen=True)
class RunReport:
    run: BillingRun
    counts: RunCounts
    failed_jobs: list[FailedJob]
    period_state: str


@dataclass(frozen=True)
class InvoiceView:
    stored: StoredInvoice
    status: InvoiceStatus
    issued_at: datetime | None

    @property
    def invoice(self) -> Invoice:
        return self.stored.invoice


@dataclass(frozen=True)
class Revenue:
    period: Period
    currency: str
    total: Decimal
    gross: Decimal
    groups: list[RevenueGroup]
    credited: Decimal = Decimal(0)
    """The provider's share given back for credit notes issued in the period (negative, included in ``total``)."""


@dataclass(frozen=True)
class Caller:
    account_id: str
    is_operator: bool = False


class BillingService:
    def __init__(
        self,
        store: BillingStore,
        *,
        inputs: BillingInputs | None = None,
        inputs_factory: Callable[[], BillingInputs] | None = None,
        jobs: BillingJobs | None = None,
        usage: UsageFreeze | None = None,
        currency: str = "USD",
        due_day: int = DEFAULT_DUE_DAY,
        on_completed: Callable[[BillingRun, datetime], object] | None = None,
        adjustments: Callable[[Period], Sequence[CreditAdjustment]] | None = None,
    ) -> None:
        minor_units(currency)  # an unsupported platform currency is a deployment error: fail at start
        self._store = store
        self._inputs = inputs
        self._inputs_factory = inputs_factory
        self._jobs = jobs
        self._usage = usage
        self.currency = currency
        self._due_day = due_day
        self._on_completed = on_completed
        self._adjustments = adjustments  # credit notes issued in a period: paid back by its close's payouts

    @property
    def inputs(self) -> BillingInputs:
        """Built on first use: the read-only routes never need the other modules' repositories."""
        if self._inputs is None:
            if self._inputs_factory is None:
                raise RuntimeError("this billing service was built without BillingInputs")
            self._inputs = self._inputs_factory()
        return self._inputs

    @property
    def jobs(self) -> BillingJobs:
        if self._jobs is None:
            raise RuntimeError("this billing service was built without job queues")
        return self._jobs

    # ============================================================================= the close
    def close(self, *, now: datetime, period: Period | None = None, trigger: str = "schedule") -> CloseResult:
        """Close ``period`` (default: the period whose window closed most recently at ``now``); idempotent."""
        if period is None:
            period = period_to_close(now, self._due_day)
        else:
            self._check_closable(period, now)
        run = self._store.get_run(period)
        if run is not None and run.status == "completed":
            self._issue(run, now)  # a completer that died before the issue step is finished here
            return CloseResult(run=run, created=False)
        self._store.begin_closing(period, run_id_for(period), now)
        if self._usage is not None and (run is None or not run.payouts_planned):
            held = self._usage.freeze_period(period)  # each buyer's usage, once no write holds it
            if held:
                logger.info("usage still being written at the close", extra={"period": str(period), "buyers": held})
        buyers: list[str] | None = None
        created = False
        if run is None:
            buyers = sorted(set(self.inputs.buyers_for_period(period)))
            draft = BillingRun(
                run_id=run_id_for(period),
                period=period,
                status="running",
                currency=self.currency,
                trigger=trigger,
                created_at=now,
                expected_invoices=len(buyers),
            )
            run, created = self._store.create_run(draft, buyers)
            if not created:
                buyers = None  # someone else's snapshot wins; read it back
        logger.info("billing close", extra={"period": str(period), "run_id": run.run_id, "run_created": created})
        return self._advance(run, buyers, created, now)

    def _check_closable(self, period: Period, now: datetime) -> None:
        win = window(period, self._due_day)
        if win.state(now) != "closed":
            raise ConflictError(
                f"The reporting window for {period} is still open until {rfc3339(win.closes_at)}; "
                f"it can be closed from then on.",
                code="reporting_window_open",
                details=[{"period": str(period), "closes_at": rfc3339(win.closes_at), "state": win.state(now)}],
            )

    def _advance(self, run: BillingRun, buyers: list[str] | None, fresh: bool, now: datetime) -> CloseResult:
        """Send whatever jobs are still owed, or do the fan-in/completion a crashed worker left undone."""
        if run.status == "completed":
            return CloseResult(run=run, created=fresh)
        if not run.payouts_planned:
            if buyers is None:
                buyers = self._store.run_buyers(run.period)
            pending = buyers if fresh else sorted(set(buyers) - self._store.invoiced_buyers(run.period))
            if pending:
                calls = self.jobs.send_invoice_jobs(run.run_id, run.period, pending)
                return CloseResult(run=run, created=fresh, invoice_jobs=len(pending), send_calls=calls)
            run, calls, sent = self._fan_in_invoices(run)
            return CloseResult(run=self._refresh(run), created=fresh, payout_jobs=sent, send_calls=calls)
        paid = self._store.paid_providers(run.period)
        pending = [p for p in run.payout_providers if p not in paid]
        if pending:
            calls = self.jobs.send_payout_jobs(run.run_id, run.period, pending)
            if not run.payouts_enqueued:
                self._store.mark_payouts_enqueued(run.period)
            return CloseResult(run=run, created=fresh, payout_jobs=len(pending), send_calls=calls)
        self._complete_if_done(run)
        return CloseResult(run=self._refresh(run), created=fresh)

    def _refresh(self, run: BillingRun) -> BillingRun:
        return self._store.get_run(run.period) or run

    # ======================================================================= invoice jobs
    def compute_invoice(self, buyer_id: str, period: Period) -> Invoice:
        """The buyer's invoice from the frozen inputs, in one pass over its usage (memory flat in its rows)."""
        return build_invoice(invoice_inputs(self.inputs, buyer_id, period, self.currency))

    def process_invoice_job(
        self, *, run_id: str, period: Period, buyer_id: str, now: datetime, runs: RunCache | None = None
    ) -> JobOutcome:
        """Store the buyer's invoice once, then do the fan-in check.

        ``runs`` caches the run for the records of one Lambda invocation: its identity and expected count
        never change, and a stale ``payouts_enqueued`` only costs a repeated (idempotent) fan-in.
        """
        run = self._job_run(run_id, period, runs)
        if run.status == "completed":
            return "skipped"  # the run is done: this invoice exists and was counted
        # ``now`` (the delivery) stamps nothing: the run's records carry the close's time, ``run.created_at``
        invoice_id = invoice_id_for(buyer_id, period)
        stored = self._store.get_invoice(invoice_id)
        outcome: JobOutcome = "duplicate"
        if stored is None:
            if self._usage is not None:
                self._usage.freeze(buyer_id, period)  # UsageLeaseHeldError: a write still runs; retried later
            invoice = self.compute_invoice(buyer_id, period)
            if self._store.store_invoice(run, invoice, list(provider_slices(invoice).values()), run.created_at):
                outcome = "created"
            else:
                stored = self._store.get_invoice(invoice_id)
        if stored is not None and not stored.indexed:
            self._store.finish_invoice(stored, list(provider_slices(stored.invoice).values()))
        run, _, _ = self._fan_in_invoices(run)
        if runs is not None:
            runs[str(period)] = run
        return outcome

    def _job_run(self, run_id: str, period: Period, runs: RunCache | None = None) -> BillingRun:
        run = runs.get(str(period)) if runs is not None else None
        if run is None:
            run = self._store.get_run(period)
        if run is None or run.run_id != run_id:
            raise StaleJobError(f"billing run {run_id} for {period} does not exist")
        if runs is not None:
            runs[str(period)] = run
        return run

    def _fan_in_invoices(self, run: BillingRun) -> tuple[BillingRun, int, int]:
        """When every invoice of the run is stored, plan the payouts once and send one job per provider."""
        if run.payouts_enqueued:
            return run, 0, 0
        counts = self._store.counts(run.period)
        if counts.invoices < run.expected_invoices:
            return run, 0, 0
        counts = self._store.counts(run.period, providers=True)
        credited = {a.provider_id for a in self.adjustments(run.period)}
        run = self._store.plan_payouts(run.period, sorted(set(counts.providers) | credited))
        calls = 0
        if run.payout_providers:
            calls = self.jobs.send_payout_jobs(run.run_id, run.period, list(run.payout_providers))
        self._store.mark_payouts_enqueued(run.period)
        logger.info(
            "invoices complete; payouts fanned out",
            extra={"period": str(run.period), "invoices": counts.invoices, "providers": len(run.payout_providers)},
        )
        if not run.payout_providers:
            self._complete_if_done(run)
        return run, calls, len(run.payout_providers)

    # ======================================================================== payout jobs
    def process_payout_job(
        self, *, run_id: str, period: Period, provider_id: str, now: datetime, runs: RunCache | None = None
    ) -> JobOutcome:
        run = self._job_run(run_id, period, runs)
        if run.status == "completed":
            return "skipped"
        if not run.payouts_planned:
            raise StaleJobError(f"payouts of run {run_id} are not planned yet")
        # stamped with the close's time (``run.created_at``), as the invoices; ``now`` is the delivery's
        stored = self._store.get_payout(payout_id_for(provider_id, period))
        outcome: JobOutcome = "duplicate"
        if stored is None:
            payout = self.compute_payout(provider_id, period, run.currency)
            outcome = "created" if self._store.store_payout(run, payout, run.created_at) else "duplicate"
        self._complete_if_done(run)
        return outcome

    def compute_payout(self, provider_id: str, period: Period, currency: str) -> Payout:
        slices = self._store.provider_slices(period, provider_id)
        party = self.inputs.parties([provider_id]).get(provider_id) or Party(provider_id, provider_id)
        adjustments = [as_payout_line(a) for a in self.adjustments(period) if a.provider_id == provider_id]
        return build_payout(party, period, currency, slices, adjustments)

    def adjustments(self, period: Period) -> list[CreditAdjustment]:
        """Payout adjustments of the credit notes issued in ``period`` (strongly consistent reads)."""
        return list(self._adjustments(period)) if self._adjustments is not None else []

    def _complete_if_done(self, run: BillingRun) -> bool:
        """Complete the run once every payout is stored, at the close's event time (``run.created_at``):
        the run, its invoices and payouts carry the time of the event that closed the period, never the
        time a worker happened to run."""
        if run.expected_payouts is None:
            return False
        counts = self._store.counts(run.period)
        if counts.payouts < run.expected_payouts:
            return False
        completed = self._store.complete_run(run.period, run.created_at)
        if completed:
            logger.info("billing run completed", extra={"period": str(run.period), "payouts": counts.payouts})
            self._issue(self._refresh(run), run.created_at)
        return completed

    def _issue(self, run: BillingRun, now: datetime) -> None:
        """The issue step (numbers, PDFs, emails) once the run has completed; idempotent (see billing_documents)."""
        if self._on_completed is not None and run.status == "completed":
            self._on_completed(run, now)

    # ========================================================================== failures
    def record_failure(
        self, *, kind: JobKind, period: Period, entity_id: str, error: str, attempts: int, now: datetime
    ) -> None:
        """A job exhausted its retries (it goes to the DLQ): the run must say so instead of hanging silently."""
        self._store.record_failure(
            period, FailedJob(kind=kind, entity_id=entity_id, error=error, attempts=attempts, failed_at=now)
        )

    def record_last_deliveries(self, kind: JobKind, jobs: list[tuple[Period, str, int, datetime]]) -> None:
        """Record each job on its last allowed delivery as failed *before* it runs: if the worker then times
        out or crashes (nothing can be recorded after that), the run still reports it; if the job succeeds,
        its document exists and the record no longer counts (``unresolved_failures``). ``jobs`` holds
        (period, buyer or provider id, receive count, time)."""
        for period, entity_id, attempts, now in jobs:
            self.record_failure(
                kind=kind,
                period=period,
                entity_id=entity_id,
                error="its last delivery did not finish: the worker timed out or crashed",
                attempts=attempts,
                now=now,
            )

    def unresolved_failures(self, period: Period) -> list[FailedJob]:
        """Failed jobs whose document still does not exist (a redriven job that succeeded is resolved)."""
        out = []
        for failure in self._store.failures(period):
            if failure.kind == "invoice":
                exists = self._store.get_invoice(invoice_id_for(failure.entity_id, period)) is not None
            else:
                exists = self._store.get_payout(payout_id_for(failure.entity_id, period)) is not None
            if not exists:
                out.append(failure)
        return out

    # ============================================================================= reads
    def run_report(self, period: Period) -> RunReport:
        run = self._store.get_run(period)
        if run is None:
            raise NotFoundError(f"No billing run for {period}.", code="billing_run_not_found")
        return RunReport(
            run=run,
            counts=self._store.counts(period),
            failed_jobs=self.unresolved_failures(period),
            period_state=self._store.period_state(period),
        )

    def period_totals(self, period: Period) -> tuple[Decimal, Decimal, Decimal]:
        """(Σ invoice totals, Σ payouts, Σ platform fees) of the period, from the stored documents."""
        return self._store.period_totals(period)

    def _status(self, stored: StoredInvoice, runs: dict[str, BillingRun | None]) -> InvoiceView:
        period_text = str(stored.invoice.period)
        if period_text not in runs:
            runs[period_text] = self._store.get_run(stored.invoice.period)
        run = runs[period_text]
        issued_at = run.completed_at if run is not None and run.status == "completed" else None
        if stored.voided_at is not None:
            return InvoiceView(stored, "void", issued_at)
        return InvoiceView(stored, "issued" if issued_at else "draft", issued_at)

    def list_invoices(
        self, caller: Caller, *, period: Period | None, limit: int = 50, token: str | None = None
    ) -> tuple[list[InvoiceView], str | None]:
        if caller.is_operator and period is None:
            raise ValidationError("Give ?period=YYYY-MM to list the invoices of every buyer.", code="period_required")
        buyer = None if caller.is_operator else caller.account_id
        stored, next_token = self._store.list_invoices(
            period=period, buyer_id=buyer, limit=_page_size(limit), token=token
        )
        runs: dict[str, BillingRun | None] = {}
        return [self._status(item, runs) for item in stored], next_token

    def get_invoice(self, caller: Caller, invoice_id: str) -> InvoiceView:
        stored = self._store.get_invoice(invoice_id)
        if (
            stored is None
            or not stored.invoice.lines  # charged nothing: no document (DOMAIN.md §9)
            or not (caller.is_operator or stored.invoice.buyer_id == caller.account_id)
        ):
            raise NotFoundError(f"Invoice {invoice_id} does not exist.", code="invoice_not_found")
        return self._status(stored, {})

    def void_invoice(self, invoice_id: str, *, reason: str, now: datetime) -> InvoiceView:
        """Operator: void an issued invoice. Status only — amounts, payouts and the books never change."""
        view = self.get_invoice(Caller("operator", is_operator=True), invoice_id)
        if view.status == "void":
            raise ConflictError(f"Invoice {invoice_id} is already void.", code="invoice_already_void")
        if view.status != "issued":
            raise ConflictError(
                f"Invoice {invoice_id} is still a draft: the close of {view.invoice.period} is running.",
                code="invoice_not_issued",
            )
        self._store.void_invoice(invoice_id, reason, now)
        return self.get_invoice(Caller("operator", is_operator=True), invoice_id)

    def list_payouts(
        self, caller: Caller, *, period: Period | None, limit: int = 50, token: str | None = None
    ) -> tuple[list[StoredPayout], str | None]:
        if caller.is_operator and period is None:
            raise ValidationError("Give ?period=YYYY-MM to list the payouts of every provider.", code="period_required")
        provider = None if caller.is_operator else caller.account_id
        return self._store.list_payouts(period=period, provider_id=provider, limit=_page_size(limit), token=token)

    def get_payout(self, caller: Caller, payout_id: str) -> StoredPayout:
        stored = self._store.get_payout(payout_id)
        if stored is None or not (caller.is_operator or stored.payout.provider_id == caller.account_id):
            raise NotFoundError(f"Payout {payout_id} does not exist.", code="payout_not_found")
        return stored

    def _completed_run(self, period: Period) -> BillingRun:
        run = self._store.get_run(period)
        if run is None or run.status != "completed":
            raise ConflictError(
                f"The billing close of {period} has not completed yet; revenue and billing reports exist once it has.",
                code="period_not_closed",
                details=[{"period": str(period), "run_status": run.status if run else None}],
            )
        return run

    def revenue(self, provider_id: str, period: Period, group_by: GroupBy) -> Revenue:
        run = self._completed_run(period)
        stored = self._store.get_payout(payout_id_for(provider_id, period))
        zero = Decimal(0)
        if stored is None:
            groups = revenue_groups(
                Payout(
                    payout_id_for(provider_id, period),
                    period,
                    provider_id,
                    provider_id,
                    run.currency,
                    Decimal(0),
                    (),
                    zero,
                    zero,
                    zero,
                ),
                group_by,
            )
            return Revenue(period, run.currency, zero, zero, groups)
        payout = stored.payout
        credited = sum((line.provider_share for line in payout.lines if line.credit_note_id), Decimal(0))
        return Revenue(period, payout.currency, payout.amount, payout.gross, revenue_groups(payout, group_by), credited)

    def billing_report(self, provider_id: str, period: Period) -> tuple[str, list[ReportRow]]:
        run = self._completed_run(period)
        rows = [row for piece in self._store.provider_slices(period, provider_id) for row in piece.report_rows]
        rows.sort(key=lambda r: (r.buyer_name, r.buyer_id, r.feed_name or "", r.plan_id or "", r.segment_id or ""))
        return run.currency, rows


def _page_size(limit: int) -> int:
    return max(1, min(MAX_PAGE, limit))
