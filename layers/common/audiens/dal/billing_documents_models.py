"""PynamoDB models of the billing documents, on the billing table beside the documents they concern.

=================================  =====================  ===========================================================
pk                                 sk                     item
=================================  =====================  ===========================================================
INVOICE#<invoice_id>               ISSUE                  the invoice's human number and the S3 key of its PDF
PAYOUT#<payout_id>                 ISSUE                  the S3 key of the payout statement PDF
RUN#<YYYY-MM>                      DOCUMENTS              the issue step of the run: its document jobs were sent
INVOICE#<invoice_id>               CREDITS                what the invoice's credit notes credited per line (versioned)
CREDITNOTE#<credit_note_id>        CREDITNOTE             the credit note (gsi1: CREDITNOTES#<issue period> / number,
                                                          gsi2: BUYERCN#<buyer_id> / <issued at>#<id>)
CNSEQ#<YYYY-MM>                    SEQ                    the last credit-note number of the period of issue
PAYADJ#<YYYY-MM>                   <credit_note_id>       the payout adjustments of a credit note, read by the close
                                                          of its period of issue (strongly consistent query)
=================================  =====================  ===========================================================

The invoice item itself is never rewritten: its number lives beside it (``ISSUE``), so the document the close
stored stays byte for byte what it computed. Documents are zlib-compressed JSON like the rest of billing.
"""

from __future__ import annotations

from pynamodb.attributes import BinaryAttribute, ListAttribute, NumberAttribute, UnicodeAttribute, UnicodeSetAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from audiens.dal.base import IsoDateTimeAttribute
from audiens.dal.billing_models import TABLE


class _BillingTable(Model):
    class Meta:
        table_name = TABLE
        region = "us-east-1"

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)


class DocumentIssueItem(_BillingTable):
    write_id = UnicodeAttribute(null=True)  # the call that wrote it: its retry is recognised (dal/idempotent.py)
    number = UnicodeAttribute(null=True)
    pdf_key = UnicodeAttribute(null=True)
    issued_at = IsoDateTimeAttribute()


class RunDocumentsItem(_BillingTable):
    documents = NumberAttribute()
    enqueued_at = IsoDateTimeAttribute()


class CreditTallyItem(_BillingTable):
    version = NumberAttribute()
    credited = UnicodeAttribute()  # JSON {line_no: "amount"}, exact decimal strings
    notes = ListAttribute[str](of=UnicodeAttribute)  # type: ignore[arg-type]


class _NotesByPeriod(GlobalSecondaryIndex["CreditNoteItem"]):
    class Meta:
        index_name = "gsi1"
        projection = AllProjection()

    gsi1pk = UnicodeAttribute(hash_key=True)
    gsi1sk = UnicodeAttribute(range_key=True)


class _NotesByBuyer(GlobalSecondaryIndex["CreditNoteItem"]):
    class Meta:
        index_name = "gsi2"
        projection = AllProjection()

    gsi2pk = UnicodeAttribute(hash_key=True)
    gsi2sk = UnicodeAttribute(range_key=True)


class CreditNoteItem(_BillingTable):
    credit_note_id = UnicodeAttribute()
    number = UnicodeAttribute()
    invoice_id = UnicodeAttribute()
    buyer_id = UnicodeAttribute()
    issue_period = UnicodeAttribute()
    total = UnicodeAttribute()
    issued_at = IsoDateTimeAttribute()
    document = BinaryAttribute(legacy_encoding=False)
    gsi1pk = UnicodeAttribute()
    gsi1sk = UnicodeAttribute()
    gsi2pk = UnicodeAttribute()
    gsi2sk = UnicodeAttribute()
    by_period = _NotesByPeriod()
    by_buyer = _NotesByBuyer()


class CreditSequenceItem(_BillingTable):
    seq = NumberAttribute()


class PayoutAdjustmentsItem(_BillingTable):
    credit_note_id = UnicodeAttribute()
    providers = UnicodeSetAttribute()
    document = BinaryAttribute(legacy_encoding=False)


MODELS: list[type[Model]] = [
    DocumentIssueItem,
    RunDocumentsItem,
    CreditTallyItem,
    CreditNoteItem,
    CreditSequenceItem,
    PayoutAdjustmentsItem,
]
