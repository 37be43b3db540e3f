"""DynamoDB, S3 and SQS adapters of the billing documents: numbers, credit notes, adjustments, PDFs, jobs.

Writes are designed for DynamoDB's limits: a credit note is one transaction of four actions (the note, its
payout adjustments, the invoice's credit tally guarded by its version, the period's credit-note sequence
guarded by its value), so two operators crediting at once can neither over-credit an invoice nor take the
same number — the loser's condition fails and the service retries against what the winner wrote. Items stay
far below 400 KB (documents are compressed; a credit note holds at most the invoice's lines).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from functools import cached_property
from typing import Any, Final

from pynamodb.connection import Connection
from pynamodb.exceptions import DoesNotExist, TransactWriteError

from audiens.dal.aws import client
from audiens.dal.billing.common import decode_token, encode_token, reasons, run_pk
from audiens.dal.billing.jobs import SqsBillingJobs
from audiens.dal.billing_documents import ADJUSTMENTS, CREDIT_NOTES, Adjustments
from audiens.dal.billing_documents_models import (
    CreditNoteItem,
    CreditSequenceItem,
    CreditTallyItem,
    DocumentIssueItem,
    PayoutAdjustmentsItem,
    RunDocumentsItem,
)
from audiens.dal.billing_models import InvoiceItem
from audiens.dal.idempotent import IdempotentTransactWrite, save_once, write_marker
from audiens.domain.credit_notes import CreditAdjustment, CreditNote
from audiens.domain.periods import Period
from audiens.observability import logger
from audiens.ports.billing_documents import CreditTally, DocumentIssue
from audiens.ports.jobs import DocumentJob

_BATCH_GET: Final = 100


# ------------------------------------------------------------------------------------------------ store


class DynamoBillingDocuments:
    def __init__(self, region: str) -> None:
        self._region = region

    @cached_property
    def _connection(self) -> Connection:
        return Connection(region=self._region)

    # ------------------------------------------------------------------------- invoices to number
    def documented_invoices(self, invoice_ids: Sequence[str]) -> list[str]:
        """Of the given invoices, those with lines (a document), read consistently from the base table."""
        out: list[str] = []
        keys = [(f"INVOICE#{invoice_id}", "INVOICE") for invoice_id in invoice_ids]
        for start in range(0, len(keys), _BATCH_GET):
            for item in InvoiceItem.batch_get(
                keys[start : start + _BATCH_GET],
                consistent_read=True,
                attributes_to_get=["pk", "sk", "invoice_id", "line_count"],
            ):
                if int(item.line_count or 0) > 0:
                    out.append(item.invoice_id)
        return sorted(out)

    # ------------------------------------------------------------------------------ issue records
    def get_issue(self, kind: str, document_id: str) -> DocumentIssue | None:
        try:
            item = DocumentIssueItem.get(f"{kind}#{document_id}", "ISSUE", consistent_read=True)
        except DoesNotExist:
            return None
        return DocumentIssue(number=item.number, pdf_key=item.pdf_key, issued_at=item.issued_at)

    def get_issues(self, kind: str, document_ids: Iterable[str]) -> dict[str, DocumentIssue]:
        keys = [(f"{kind}#{document_id}", "ISSUE") for document_id in dict.fromkeys(document_ids)]
        out: dict[str, DocumentIssue] = {}
        for start in range(0, len(keys), _BATCH_GET):
            for item in DocumentIssueItem.batch_get(keys[start : start + _BATCH_GET]):
                out[item.pk.split("#", 1)[1]] = DocumentIssue(item.number, item.pdf_key, item.issued_at)
        return out

    def record_issue(self, kind: str, document_id: str, issue: DocumentIssue) -> bool:
        """Write the issue record once; a re-run writing the same number is a no-op, another number is a bug."""
        item = DocumentIssueItem(
            f"{kind}#{document_id}",
            "ISSUE",
            number=issue.number,
            pdf_key=issue.pdf_key,
            issued_at=issue.issued_at,
            write_id=write_marker(),
        )
        if save_once(item, DocumentIssueItem.pk.does_not_exist()):
            return True  # written, or found exactly as written (a retry after a lost answer)
        existing = self.get_issue(kind, document_id)
        if existing is None or existing.number != issue.number:
            raise RuntimeError(f"{kind} {document_id} already has number {existing and existing.number}")
        return False

    def documents_enqueued(self, period: Period) -> bool:
        try:
            RunDocumentsItem.get(run_pk(period), "DOCUMENTS", consistent_read=True)
        except DoesNotExist:
            return False
        return True

    def mark_documents_enqueued(self, period: Period, documents: int, now: datetime) -> None:
        RunDocumentsItem(run_pk(period), "DOCUMENTS", documents=documents, enqueued_at=now).save()

    # ------------------------------------------------------------------------------- credit notes
    def credit_tally(self, invoice_id: str) -> CreditTally:
        try:
            item = CreditTallyItem.get(f"INVOICE#{invoice_id}", "CREDITS", consistent_read=True)
        except DoesNotExist:
            return CreditTally(0, {}, ())
        credited = {int(k): Decimal(v) for k, v in json.loads(item.credited).items()}
        return CreditTally(int(item.version), credited, tuple(item.notes or ()))

    def credit_sequence(self, period: Period) -> int:
        try:
            return int(CreditSequenceItem.get(f"CNSEQ#{period}", "SEQ", consistent_read=True).seq)
        except DoesNotExist:
            return 0

    def store_credit_note(
        self,
        note: CreditNote,
        adjustments: Sequence[CreditAdjustment],
        *,
        tally: CreditTally,
        credited_after: dict[int, Decimal],
        sequence: int,
    ) -> bool:
        """All or nothing; False when another credit note took the tally version or the number first."""
        note_item = CreditNoteItem(
            f"CREDITNOTE#{note.credit_note_id}",
            "CREDITNOTE",
            credit_note_id=note.credit_note_id,
            number=note.number,
            invoice_id=note.invoice_id,
            buyer_id=note.buyer_id,
            issue_period=str(note.issue_period),
            total=str(note.total),
            issued_at=note.issued_at,
            document=CREDIT_NOTES.pack(note),
            gsi1pk=f"CREDITNOTES#{note.issue_period}",
            gsi1sk=note.number,
            gsi2pk=f"BUYERCN#{note.buyer_id}",
            gsi2sk=f"{note.issued_at.isoformat()}#{note.credit_note_id}",
        )
        adjust_item = PayoutAdjustmentsItem(
            f"PAYADJ#{note.issue_period}",
            note.credit_note_id,
            credit_note_id=note.credit_note_id,
            providers={a.provider_id for a in adjustments},
            document=ADJUSTMENTS.pack(Adjustments(tuple(adjustments))),
        )
        tally_item = CreditTallyItem(
            f"INVOICE#{note.invoice_id}",
            "CREDITS",
            version=tally.version + 1,
            credited=json.dumps({str(k): str(v) for k, v in sorted(credited_after.items())}),
            notes=[*tally.notes, note.credit_note_id],
        )
        sequence_item = CreditSequenceItem(f"CNSEQ#{note.issue_period}", "SEQ", seq=sequence)
        tally_condition = (
            CreditTallyItem.pk.does_not_exist() if tally.version == 0 else CreditTallyItem.version == tally.version
        )
        seq_condition = (
            CreditSequenceItem.pk.does_not_exist() if sequence == 1 else CreditSequenceItem.seq == sequence - 1
        )
        try:
            with IdempotentTransactWrite(f"credit-note:{note.credit_note_id}", connection=self._connection) as tx:
                tx.save(note_item, condition=CreditNoteItem.pk.does_not_exist())
                tx.save(adjust_item, condition=PayoutAdjustmentsItem.pk.does_not_exist())
                tx.save(tally_item, condition=tally_condition)
                tx.save(sequence_item, condition=seq_condition)
        except TransactWriteError as error:
            why = reasons(error)
            if "ConditionalCheckFailed" in why or "TransactionConflict" in why:
                logger.info("credit note lost a race; retrying", extra={"reasons": why})
                return False
            raise
        return True

    def get_credit_note(self, credit_note_id: str) -> CreditNote | None:
        try:
            item = CreditNoteItem.get(f"CREDITNOTE#{credit_note_id}", "CREDITNOTE", consistent_read=True)
        except DoesNotExist:
            return None
        return CREDIT_NOTES.unpack(item.document)

    def credit_notes(self, credit_note_ids: Sequence[str]) -> list[CreditNote]:
        keys = [(f"CREDITNOTE#{i}", "CREDITNOTE") for i in credit_note_ids]
        found: dict[str, CreditNote] = {}
        for start in range(0, len(keys), _BATCH_GET):
            for item in CreditNoteItem.batch_get(keys[start : start + _BATCH_GET], consistent_read=True):
                found[item.credit_note_id] = CREDIT_NOTES.unpack(item.document)
        return [found[i] for i in credit_note_ids if i in found]

    def list_credit_notes(
        self, *, period: Period | None, buyer_id: str | None, limit: int, token: str | None
    ) -> tuple[list[CreditNote], str | None]:
        start = decode_token(token)
        if period is not None:
            results = CreditNoteItem.by_period.query(
                f"CREDITNOTES#{period}",
                filter_condition=(CreditNoteItem.buyer_id == buyer_id) if buyer_id is not None else None,
                limit=limit,
                last_evaluated_key=start,
            )
        elif buyer_id is not None:
            results = CreditNoteItem.by_buyer.query(
                f"BUYERCN#{buyer_id}", scan_index_forward=False, limit=limit, last_evaluated_key=start
            )
        else:
            raise ValueError("a period or a buyer is required")
        items = [CREDIT_NOTES.unpack(item.document) for item in results]
        return items, encode_token(results.last_evaluated_key) if results.last_evaluated_key else None

    def adjustments(self, period: Period) -> list[CreditAdjustment]:
        """Every payout adjustment of credit notes issued in ``period`` (strongly consistent)."""
        out: list[CreditAdjustment] = []
        for item in PayoutAdjustmentsItem.query(f"PAYADJ#{period}", consistent_read=True):
            out.extend(ADJUSTMENTS.unpack(item.document).adjustments)
        return out


class S3DocumentObjects:
    """The documents bucket: PDFs written once at issue under deterministic keys, read by the API."""

    def __init__(self, bucket: str, region: str) -> None:
        self._bucket = bucket
        self._region = region

    @cached_property
    def _client(self) -> Any:
        return client("s3", self._region)

    def put_pdf(self, key: str, data: bytes) -> None:
        self._client.put_object(Bucket=self._bucket, Key=key, Body=data, ContentType="application/pdf")

    def get_pdf(self, key: str) -> bytes | None:
        try:
            response = self._client.get_object(Bucket=self._bucket, Key=key)
        except self._client.exceptions.NoSuchKey:
            return None
        data: bytes = response["Body"].read()
        return data


class SqsDocumentJobs:
    """The document jobs queue (ids only in the body), sent in batches of 10 like the close's jobs."""

    def __init__(self, queue_url: str, region: str) -> None:
        self._queue_url = queue_url
        self._batches = SqsBillingJobs(None, None, region)

    def send(self, jobs: Sequence[DocumentJob]) -> int:
        return self._batches._send(self._queue_url, [job.body() for job in jobs])


__all__ = ["DynamoBillingDocuments", "S3DocumentObjects", "SqsDocumentJobs"]
