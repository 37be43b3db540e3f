"""PynamoDB models of the billing table: runs, invoices, provider slices, payouts, counters and failures.

One table (``BillingTable``), pk/sk design:

=================================  =====================  ===========================================================
pk                                 sk                     item
=================================  =====================  ===========================================================
RUN#<YYYY-MM>                      RUN                    the period's billing run (gsi1: RUNS / <period>)
RUN#<YYYY-MM>                      BUYERS#<nnnn>          the buyers snapshotted at the close (chunks of ids)
RUN#<YYYY-MM>                      FAILED#<kind>#<id>     a job that exhausted its retries (it is in the DLQ)
COUNT#<YYYY-MM>                    <nn>                   counter shard: invoices and payouts stored
PAYEES#<YYYY-MM>                   <nn>                   the providers paid from the invoices of the same shard
INVOICE#<invoice_id>               INVOICE                the invoice (gsi1: INVOICES#<period> / <buyer>,
                                                          gsi2: BUYER#<buyer> / <period>)
PAYIN#<YYYY-MM>#<provider_id>      INVOICE#<buyer_id>     the provider's slice of one invoice (lines + report rows)
PAYOUT#<payout_id>                 PAYOUT                 the payout (gsi1: PAYOUTS#<period> / <provider>,
                                                          gsi2: PROVIDER#<provider> / <period>)
=================================  =====================  ===========================================================

The provider slices live under a base-table partition per (period, provider) rather than a GSI so the
payout worker reads them with a *strongly consistent* query: a GSI could still be missing a slice written
a moment before, and a payout computed from it would be wrong forever. Documents are zlib-compressed JSON
(money as exact decimal strings); counts are numbers (they are never money).
"""

from __future__ import annotations

from pynamodb.attributes import (
    BinaryAttribute,
    BooleanAttribute,
    ListAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from audiens.dal.base import IsoDateTimeAttribute

TABLE = "BillingTable"


class _BillingTable(Model):
    class Meta:
        table_name = TABLE
        region = "us-east-1"

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)


class _RunsIndex(GlobalSecondaryIndex["BillingRunItem"]):
    class Meta:
        index_name = "gsi1"
        projection = AllProjection()

    gsi1pk = UnicodeAttribute(hash_key=True)
    gsi1sk = UnicodeAttribute(range_key=True)


class _InvoicesByPeriod(GlobalSecondaryIndex["InvoiceItem"]):
    class Meta:
        index_name = "gsi1"
        projection = AllProjection()

    gsi1pk = UnicodeAttribute(hash_key=True)
    gsi1sk = UnicodeAttribute(range_key=True)


class _InvoicesByBuyer(GlobalSecondaryIndex["InvoiceItem"]):
    class Meta:
        index_name = "gsi2"
        projection = AllProjection()

    gsi2pk = UnicodeAttribute(hash_key=True)
    gsi2sk = UnicodeAttribute(range_key=True)


class _PayoutsByPeriod(GlobalSecondaryIndex["PayoutItem"]):
    class Meta:
        index_name = "gsi1"
        projection = AllProjection()

    gsi1pk = UnicodeAttribute(hash_key=True)
    gsi1sk = UnicodeAttribute(range_key=True)


class _PayoutsByProvider(GlobalSecondaryIndex["PayoutItem"]):
    class Meta:
        index_name = "gsi2"
        projection = AllProjection()

    gsi2pk = UnicodeAttribute(hash_key=True)
    gsi2sk = UnicodeAttribute(range_key=True)


class BillingRunItem(_BillingTable):
    run_id = UnicodeAttribute()
    period = UnicodeAttribute()
    status = UnicodeAttribute()
    currency = UnicodeAttribute()
    trigger = UnicodeAttribute()
    created_at = IsoDateTimeAttribute()
    expected_invoices = NumberAttribute()
    expected_payouts = NumberAttribute(null=True)
    payout_plan = UnicodeAttribute(null=True)  # the plan's id: its pages are RUN#<p> / PLAN#<id>#<page>
    payout_plan_pages = NumberAttribute(null=True)
    payouts_enqueued = BooleanAttribute(default=False)
    completed_at = IsoDateTimeAttribute(null=True)
    gsi1pk = UnicodeAttribute()
    gsi1sk = UnicodeAttribute()
    by_gsi1 = _RunsIndex()


class RunBuyersItem(_BillingTable):
    buyers = ListAttribute[str](of=UnicodeAttribute)  # type: ignore[arg-type]


class RunPayoutPlanItem(_BillingTable):
    """One page of the run's payout plan (at most ``PLAN_PAGE`` providers: the plan of any number of
    providers is never one item near DynamoDB's 400 KB)."""

    providers = ListAttribute[str](of=UnicodeAttribute)  # type: ignore[arg-type]


class RunCounterItem(_BillingTable):
    invoices = NumberAttribute(default=0)  # buyers processed (the fan-in compares it with the snapshot)
    empty = NumberAttribute(default=0)  # of which charged nothing: no document
    payouts = NumberAttribute(default=0)


class RunPayeesItem(_BillingTable):
    """Kept apart from the counters: the counts are read after every invoice, the providers once."""

    providers = UnicodeSetAttribute(null=True)


class FailedJobItem(_BillingTable):
    kind = UnicodeAttribute()
    entity_id = UnicodeAttribute()
    error = UnicodeAttribute()
    attempts = NumberAttribute()
    failed_at = IsoDateTimeAttribute()


class InvoiceItem(_BillingTable):
    write_id = UnicodeAttribute(null=True)  # the call that wrote it: its retry is recognised (dal/idempotent.py)
    invoice_id = UnicodeAttribute()
    run_id = UnicodeAttribute()
    period = UnicodeAttribute()
    buyer_id = UnicodeAttribute()
    currency = UnicodeAttribute()
    total = UnicodeAttribute()
    line_count = NumberAttribute()
    document = BinaryAttribute(legacy_encoding=False)
    indexed = BooleanAttribute(default=False)
    created_at = IsoDateTimeAttribute()
    voided_at = IsoDateTimeAttribute(null=True)
    void_reason = UnicodeAttribute(null=True)
    # Sparse: a buyer charged nothing gets no document (DOMAIN.md §9). Its header is kept, unlisted, so the
    # close stays exactly-once, but it has no index keys and the API answers 404 for it.
    gsi1pk = UnicodeAttribute(null=True)
    gsi1sk = UnicodeAttribute(null=True)
    gsi2pk = UnicodeAttribute(null=True)
    gsi2sk = UnicodeAttribute(null=True)
    by_period = _InvoicesByPeriod()
    by_buyer = _InvoicesByBuyer()


class ProviderSliceItem(_BillingTable):
    invoice_id = UnicodeAttribute()
    buyer_id = UnicodeAttribute()
    document = BinaryAttribute(legacy_encoding=False)


class PayoutItem(_BillingTable):
    payout_id = UnicodeAttribute()
    run_id = UnicodeAttribute()
    period = UnicodeAttribute()
    provider_id = UnicodeAttribute()
    currency = UnicodeAttribute()
    gross = UnicodeAttribute()
    amount = UnicodeAttribute()
    platform_fee = UnicodeAttribute()
    document = BinaryAttribute(legacy_encoding=False)
    created_at = IsoDateTimeAttribute()
    gsi1pk = UnicodeAttribute()
    gsi1sk = UnicodeAttribute()
    gsi2pk = UnicodeAttribute()
    gsi2sk = UnicodeAttribute()
    by_period = _PayoutsByPeriod()
    by_provider = _PayoutsByProvider()


MODELS: list[type[Model]] = [
    BillingRunItem,
    RunBuyersItem,
    RunPayoutPlanItem,
    RunCounterItem,
    RunPayeesItem,
    FailedJobItem,
    InvoiceItem,
    ProviderSliceItem,
    PayoutItem,
]
