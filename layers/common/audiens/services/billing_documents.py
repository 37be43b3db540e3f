"""Billing documents and messages: numbers, PDFs and emails at issue, credit notes, usage reminders.

The issue step runs once the close's run has completed (every invoice and payout exists): the documented
invoices of the period are numbered 1..N in invoice-id order — gap-free and the same on every re-run, with
no counter for parallel workers to fight over — and one document job per invoice and payout is queued. A
job records the number, writes the PDF to its fixed S3 key and sends the email once (its id is fixed by the
document). Every step may run again: nothing it writes can differ the second time.

Credit notes are issued by the operator against an issued invoice; their number comes from the sequence of
their period of issue, taken in the same transaction as the note, the invoice's credit tally and the payout
adjustments that the close of that period pays (``BillingService.compute_payout``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal, Protocol

from audiens.domain.billing_documents import credit_note_document, document_key, invoice_document, payout_document
from audiens.domain.billing_emails import (
    credit_note_email,
    invoice_email,
    payout_email,
    reminder_due,
    reminder_email,
)
from audiens.domain.billing_pdf import Issuer, render_pdf
from audiens.domain.credit_notes import (
    CreditNote,
    build_adjustments,
    build_credit_note,
    credit_note_id_for,
    credit_note_number,
    invoice_number,
    parse_credit_request,
)
from audiens.domain.invoicing import invoice_id_for, payout_id_for
from audiens.domain.periods import DEFAULT_DUE_DAY, Period
from audiens.errors import ConflictError, NotFoundError, ValidationError
from audiens.observability import logger
from audiens.ports.billing import BillingRun, BillingStore, StoredPayout
from audiens.ports.billing_documents import (
    AccountNames,
    CreditTally,
    DocumentIssue,
    DocumentJobs,
    DocumentObjects,
    DocumentsStore,
    Mailer,
    ReminderAudience,
)
from audiens.ports.jobs import DocumentJob
from audiens.services.billing import BillingService, Caller, InvoiceView

KIND_INVOICE = "INVOICE"
KIND_PAYOUT = "PAYOUT"
KIND_CREDIT_NOTE = "CREDITNOTE"
_CREDIT_RETRIES = 8
OPERATOR = Caller("operator", is_operator=True)
JobKind = Literal["invoice", "payout", "credit_note"]


@dataclass(frozen=True)
class Pdf:
    data: bytes
    filename: str


@dataclass(frozen=True)
class ReminderResult:
    kind: str | None
    period: Period | None
    candidates: int = 0
    sent: int = 0


class BillingDocumentsService:
    def __init__(
        self,
        *,
        billing: BillingService,
        store: BillingStore,
        documents: DocumentsStore,
        objects: DocumentObjects | None = None,
        jobs: DocumentJobs | None = None,
        mailer: Mailer | None = None,
        audience: ReminderAudience | None = None,
        names: AccountNames | None = None,
        issuer: Issuer,
        base_url: str,
        due_day: int = DEFAULT_DUE_DAY,
    ) -> None:
        self._billing = billing
        self._store = store
        self._documents = documents
        self._objects = objects
        self._jobs = jobs
        self._mailer = mailer
        self._audience = audience
        self._names = names
        self._issuer = issuer
        self._base_url = base_url.rstrip("/")
        self._due_day = due_day

    def _need[T](self, value: T | None, what: str) -> T:
        if value is None:
            raise RuntimeError(f"this billing documents service was built without {what}")
        return value

    # ============================================================================== issue step
    def issue_run(self, run: BillingRun, now: datetime) -> int:
        """Number the period's invoices and queue one document job per invoice and payout; once per run."""
        if run.status != "completed" or self._documents.documents_enqueued(run.period):
            return 0
        period = run.period
        buyers = self._store.run_buyers(period)
        invoices = self._documents.documented_invoices([invoice_id_for(b, period) for b in buyers])
        jobs = [
            DocumentJob(kind="invoice", id=invoice_id, period=period, number=invoice_number(period, n))
            for n, invoice_id in enumerate(invoices, start=1)
        ]
        jobs += [
            DocumentJob(kind="payout", id=payout_id_for(provider, period), period=period)
            for provider in sorted(run.payout_providers)
        ]
        if jobs:
            self._need(self._jobs, "a document jobs queue").send(jobs)
        self._documents.mark_documents_enqueued(period, len(jobs), now)
        logger.info("billing documents queued", extra={"period": str(period), "documents": len(jobs)})
        return len(jobs)

    def process_job(self, job: DocumentJob, now: datetime) -> str:
        if job.kind == "invoice":
            if job.number is None:
                raise ValueError(f"invoice job without its number: {job!r}")
            return self._issue_invoice(job.id, job.number, now)
        if job.kind == "payout":
            return self._issue_payout(job.id, now)
        return self._issue_credit_note(job.id, now)

    def _run_completed_at(self, period: Period) -> datetime:
        run = self._store.get_run(period)
        if run is None or run.completed_at is None:
            raise RuntimeError(f"the run of {period} has not completed: its documents are not issued yet")
        return run.completed_at

    def _issue_invoice(self, invoice_id: str, number: str, now: datetime) -> str:
        stored = self._store.get_invoice(invoice_id)
        if stored is None:
            raise RuntimeError(f"invoice {invoice_id} does not exist")
        invoice = stored.invoice
        issued_at = self._run_completed_at(invoice.period)
        key = document_key("invoice", invoice.period, invoice_id)
        created = self._documents.record_issue(KIND_INVOICE, invoice_id, DocumentIssue(number, key, issued_at))
        pdf = render_pdf(invoice_document(invoice, number=number, status="issued", issued_at=issued_at), self._issuer)
        self._need(self._objects, "a documents bucket").put_pdf(key, pdf)
        email = invoice_email(invoice, number=number, issued_at=issued_at, base_url=self._base_url)
        self._need(self._mailer, "a mailer").send_account_email(email, now=now)
        return "created" if created else "duplicate"

    def _issue_payout(self, payout_id: str, now: datetime) -> str:
        stored = self._store.get_payout(payout_id)
        if stored is None:
            raise RuntimeError(f"payout {payout_id} does not exist")
        payout = stored.payout
        issued_at = self._run_completed_at(payout.period)
        key = document_key("payout", payout.period, payout_id)
        created = self._documents.record_issue(KIND_PAYOUT, payout_id, DocumentIssue(None, key, issued_at))
        self._need(self._objects, "a documents bucket").put_pdf(
            key, render_pdf(payout_document(payout, issued_at=issued_at), self._issuer)
        )
        self._need(self._mailer, "a mailer").send_account_email(payout_email(payout, base_url=self._base_url), now=now)
        return "created" if created else "duplicate"

    def _issue_credit_note(self, credit_note_id: str, now: datetime) -> str:
        note = self._documents.get_credit_note(credit_note_id)
        if note is None:
            raise RuntimeError(f"credit note {credit_note_id} does not exist")
        key = document_key("credit_note", note.issue_period, credit_note_id)
        created = self._documents.record_issue(
            KIND_CREDIT_NOTE, credit_note_id, DocumentIssue(note.number, key, note.issued_at)
        )
        self._need(self._objects, "a documents bucket").put_pdf(
            key, render_pdf(credit_note_document(note), self._issuer)
        )
        self._need(self._mailer, "a mailer").send_account_email(
            credit_note_email(note, base_url=self._base_url), now=now
        )
        return "created" if created else "duplicate"

    # ================================================================================ PDFs (API)
    def invoice_number_of(self, invoice_id: str) -> str | None:
        issue = self._documents.get_issue(KIND_INVOICE, invoice_id)
        return issue.number if issue else None

    def invoice_numbers(self, invoice_ids: Sequence[str]) -> dict[str, str | None]:
        issues = self._documents.get_issues(KIND_INVOICE, invoice_ids)
        return {i: (issues[i].number if i in issues else None) for i in invoice_ids}

    def invoice_pdf(self, caller: Caller, invoice_id: str) -> Pdf:
        view = self._billing.get_invoice(caller, invoice_id)
        issue = self._documents.get_issue(KIND_INVOICE, invoice_id)
        filename = f"{(issue.number if issue and issue.number else invoice_id)}.pdf"
        if view.status == "issued":
            if issue is None:
                raise ConflictError(
                    f"The PDF of invoice {invoice_id} is being generated; try again in a few seconds.",
                    code="document_pending",
                )
            stored = self._stored_pdf(issue)
            if stored is not None:
                return Pdf(stored, filename)
        return Pdf(self._render_invoice(view, issue), filename)

    def _render_invoice(self, view: InvoiceView, issue: DocumentIssue | None) -> bytes:
        tally = self._documents.credit_tally(view.invoice.invoice_id)
        credited = sum(tally.credited.values(), Decimal(0)) if tally.credited else None
        return render_pdf(
            invoice_document(
                view.invoice,
                number=issue.number if issue else None,
                status=view.status,
                issued_at=view.issued_at,
                void_reason=view.stored.void_reason,
                credited=credited if view.status != "issued" else None,
            ),
            self._issuer,
        )

    def _stored_pdf(self, issue: DocumentIssue) -> bytes | None:
        if issue.pdf_key is None or self._objects is None:
            return None
        return self._objects.get_pdf(issue.pdf_key)

    def payout_pdf(self, caller: Caller, payout_id: str) -> Pdf:
        stored: StoredPayout = self._billing.get_payout(caller, payout_id)
        issue = self._documents.get_issue(KIND_PAYOUT, payout_id)
        if issue is not None:
            data = self._stored_pdf(issue)
            if data is not None:
                return Pdf(data, f"{payout_id}.pdf")
        run = self._store.get_run(stored.payout.period)
        issued_at = run.completed_at if run is not None else None
        return Pdf(render_pdf(payout_document(stored.payout, issued_at=issued_at), self._issuer), f"{payout_id}.pdf")

    def credit_note_pdf(self, caller: Caller, credit_note_id: str) -> Pdf:
        note = self.get_credit_note(caller, credit_note_id)
        issue = self._documents.get_issue(KIND_CREDIT_NOTE, credit_note_id)
        if issue is not None:
            data = self._stored_pdf(issue)
            if data is not None:
                return Pdf(data, f"{note.number}.pdf")
        return Pdf(render_pdf(credit_note_document(note), self._issuer), f"{note.number}.pdf")

    # ============================================================================= credit notes
    def create_credit_note(self, invoice_id: str, body: Mapping[str, Any], *, now: datetime) -> CreditNote:
        """Operator: credit an issued invoice (422 larger than what remains, 409 draft or void)."""
        view = self._billing.get_invoice(OPERATOR, invoice_id)
        invoice = view.invoice
        request = parse_credit_request(body, invoice.currency)
        if view.status == "draft":
            raise ConflictError(
                f"Invoice {invoice_id} is still a draft: the close of {invoice.period} is running; "
                "credit it once it is issued.",
                code="invoice_not_issued",
            )
        if view.status == "void":
            raise ConflictError(
                f"Invoice {invoice_id} is void: a void invoice is owed by nobody and cannot be credited.",
                code="invoice_void",
            )
        issue_period = Period.of(now)
        state = self._store.period_state(issue_period)
        if state != "OPEN":
            raise ConflictError(
                f"The period {issue_period} of this request is already closed ({state}); a credit note belongs "
                "to the period in which it is issued.",
                code="period_closed",
            )
        issue = self._documents.get_issue(KIND_INVOICE, invoice_id)
        for _attempt in range(_CREDIT_RETRIES):
            tally = self._documents.credit_tally(invoice_id)
            sequence = self._documents.credit_sequence(issue_period) + 1
            note = build_credit_note(
                invoice,
                request,
                tally.credited,
                credit_note_id=credit_note_id_for(invoice_id, tally.version + 1),
                number=credit_note_number(issue_period, sequence),
                invoice_number=issue.number if issue else None,
                issued_at=now,
            )
            shares = self._revenue_shares(invoice.period, note)
            adjustments = build_adjustments(note, invoice, tally.credited, shares)
            if self._documents.store_credit_note(
                note, adjustments, tally=tally, credited_after=_after(tally, note), sequence=sequence
            ):
                self._send_credit_note_job(note)
                return note
        raise ConflictError("Too many credit notes are being issued at once; try again.", code="credit_note_conflict")

    def _send_credit_note_job(self, note: CreditNote) -> None:
        """The PDF and the email follow through the document queue; the API renders the PDF meanwhile."""
        if self._jobs is None:
            return
        try:
            self._jobs.send([DocumentJob(kind="credit_note", id=note.credit_note_id, period=note.issue_period)])
        except Exception:  # the note is stored; the PDF is rendered on request and the job can be re-sent
            logger.exception("credit note document job not sent", extra={"credit_note_id": note.credit_note_id})

    def _revenue_shares(self, period: Period, note: CreditNote) -> dict[str, Decimal]:
        """Each provider's share as its payout of the invoice's period applied it."""
        shares = {}
        for provider_id in note.provider_ids:
            stored = self._store.get_payout(payout_id_for(provider_id, period))
            if stored is None:
                raise RuntimeError(f"provider {provider_id} has no payout for {period}")
            shares[provider_id] = stored.payout.revenue_share
        return shares

    def get_credit_note(self, caller: Caller, credit_note_id: str) -> CreditNote:
        note = self._documents.get_credit_note(credit_note_id)
        if note is None or not (caller.is_operator or note.buyer_id == caller.account_id):
            raise NotFoundError(f"Credit note {credit_note_id} does not exist.", code="credit_note_not_found")
        return note

    def invoice_credit_notes(self, invoice_id: str) -> tuple[list[CreditNote], Decimal]:
        tally = self._documents.credit_tally(invoice_id)
        notes = self._documents.credit_notes(list(tally.notes)) if tally.notes else []
        return notes, sum(tally.credited.values(), Decimal(0))

    def list_credit_notes(
        self, caller: Caller, *, period: Period | None, limit: int, token: str | None
    ) -> tuple[list[CreditNote], str | None]:
        if caller.is_operator and period is None:
            raise ValidationError(
                "Give ?period=YYYY-MM to list the credit notes of every buyer.", code="period_required"
            )
        buyer = None if caller.is_operator else caller.account_id
        return self._documents.list_credit_notes(
            period=period, buyer_id=buyer, limit=max(1, min(100, limit)), token=token
        )

    # ================================================================================ reminders
    def send_usage_reminders(self, now: datetime) -> ReminderResult:
        """On the 1st: every buyer with CPM subscriptions or mapped segments; on the 4th: those who reported nothing."""
        due = reminder_due(now)
        if due is None:
            return ReminderResult(None, None)
        kind, period = due
        audience = self._need(self._audience, "a reminder audience")
        mailer = self._need(self._mailer, "a mailer")
        names = self._need(self._names, "account names")
        candidates = audience.candidates(period)
        reported = audience.reported(period) if kind == "usage_last_call" else set()
        sent = 0
        for buyer_id in candidates:
            if buyer_id in reported or not audience.reports_usage(buyer_id, period):
                continue
            company = names.company_name(buyer_id)
            if company is None:
                continue
            email = reminder_email(
                kind, period, account_id=buyer_id, company_name=company, base_url=self._base_url, due_day=self._due_day
            )
            if mailer.send_account_email(email, now=now, reminder=True):
                sent += 1
        logger.info("usage reminders", extra={"kind": kind, "period": str(period), "sent": sent})
        return ReminderResult(kind, period, len(candidates), sent)


def _after(tally: CreditTally, note: CreditNote) -> dict[int, Decimal]:
    out = dict(tally.credited)
    for line in note.lines:
        out[line.invoice_line_no] = out.get(line.invoice_line_no, Decimal(0)) + line.amount
    return out


class _Catalog(Protocol):
    def subscribed_buyers(self, period: Period) -> list[str]: ...

    def mapped_buyers(self) -> list[str]: ...

    def feed_keys(self, buyer_id: str, period: Period) -> Sequence[object]: ...

    def segment_keys(self, buyer_id: str, period: Period) -> Sequence[object]: ...


class _UsageBuyers(Protocol):
    def buyers_with_usage(self, period: Period) -> list[str]: ...


class UsageReminderAudience:
    """Reminder candidates from what the usage module publishes: buyers subscribed during the period, buyers who
    have mapped segments, and buyers who reported the period before or this one; each is kept only if it has
    something to report (a CPM subscription's feed key or a mapped segment), exactly what its Payables page lists."""

    def __init__(self, catalog: _Catalog, usage: _UsageBuyers) -> None:
        self._catalog = catalog
        self._usage = usage

    def candidates(self, period: Period) -> list[str]:
        found = set(self._catalog.subscribed_buyers(period))
        found.update(self._catalog.mapped_buyers())  # a first month's mapped segments, nothing reported yet
        found.update(self._usage.buyers_with_usage(period.previous()))
        found.update(self._usage.buyers_with_usage(period))
        return sorted(found)

    def reports_usage(self, buyer_id: str, period: Period) -> bool:
        return bool(self._catalog.feed_keys(buyer_id, period)) or bool(self._catalog.segment_keys(buyer_id, period))

    def reported(self, period: Period) -> set[str]:
        return set(self._usage.buyers_with_usage(period))
