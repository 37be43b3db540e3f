"""The ports of the billing documents and messages: numbers, PDFs, credit notes, emails, reminders."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from audiens.domain.billing_emails import BillingEmail
from audiens.domain.credit_notes import CreditAdjustment, CreditNote
from audiens.domain.periods import Period
from audiens.ports.jobs import DocumentJob


@dataclass(frozen=True)
class DocumentIssue:
    """A document's issue record: its human number (invoices, credit notes) and the S3 key of its PDF."""

    number: str | None
    pdf_key: str | None
    issued_at: datetime


@dataclass(frozen=True)
class CreditTally:
    """What the credit notes of one invoice credited per line; ``version`` guards concurrent credits."""

    version: int
    credited: Mapping[int, Decimal]
    notes: tuple[str, ...]


class DocumentsStore(Protocol):
    def documented_invoices(self, invoice_ids: Sequence[str]) -> list[str]: ...

    def get_issue(self, kind: str, document_id: str) -> DocumentIssue | None: ...

    def get_issues(self, kind: str, document_ids: Iterable[str]) -> dict[str, DocumentIssue]: ...

    def record_issue(self, kind: str, document_id: str, issue: DocumentIssue) -> bool: ...

    def documents_enqueued(self, period: Period) -> bool: ...

    def mark_documents_enqueued(self, period: Period, documents: int, now: datetime) -> None: ...

    def credit_tally(self, invoice_id: str) -> CreditTally: ...

    def credit_sequence(self, period: Period) -> int: ...

    def store_credit_note(
        self,
        note: CreditNote,
        adjustments: Sequence[CreditAdjustment],
        *,
        tally: CreditTally,
        credited_after: dict[int, Decimal],
        sequence: int,
    ) -> bool: ...

    def get_credit_note(self, credit_note_id: str) -> CreditNote | None: ...

    def credit_notes(self, credit_note_ids: Sequence[str]) -> list[CreditNote]: ...

    def list_credit_notes(
        self, *, period: Period | None, buyer_id: str | None, limit: int, token: str | None
    ) -> tuple[list[CreditNote], str | None]: ...

    def adjustments(self, period: Period) -> list[CreditAdjustment]: ...


class DocumentObjects(Protocol):
    def put_pdf(self, key: str, data: bytes) -> None: ...

    def get_pdf(self, key: str) -> bytes | None: ...


class DocumentJobs(Protocol):
    def send(self, jobs: Sequence[DocumentJob]) -> int: ...


class Mailer(Protocol):
    """Sends a billing email to the account's own address, once per email id (``AccountsService``)."""

    def send_account_email(self, email: BillingEmail, *, now: datetime, reminder: bool = False) -> bool: ...


class ReminderAudience(Protocol):
    """Who is reminded to report usage (buyers with CPM subscriptions or mapped segments) and who reported."""

    def candidates(self, period: Period) -> list[str]: ...

    def reports_usage(self, buyer_id: str, period: Period) -> bool: ...

    def reported(self, period: Period) -> set[str]: ...


class AccountNames(Protocol):
    def company_name(self, account_id: str) -> str | None: ...
