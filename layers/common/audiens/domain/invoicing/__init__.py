"""Invoices, payouts, revenue and the providers' billing report (DOMAIN.md §8-§10), as pure functions.

Three modules, one job each: :mod:`.documents` (the inputs and documents, their ids), :mod:`.charging`
(the invoice and its billing report rows), :mod:`.payouts` (slices, payouts, revenue groups). This package
re-exports their public names.

The monthly close gathers one buyer's inputs (subscriptions active in the period, segment and feed-level
usage, the segments' rules, the traits' feeds and populations) and :func:`build_invoice` turns them into
the invoice; :func:`provider_slices` cuts the invoice into the part each provider is paid for, and
:func:`build_payout` turns every slice of one provider into its payout. Nothing here does I/O or reads a
clock, so the same inputs always give the same documents to the cent — that is what lets a redelivered
job or a re-run close prove it changed nothing.

Money follows ``domain.money``: prices are exact ``Decimal``; each invoice line is rounded once, half-up to
the currency's minor unit; totals are sums of rounded lines; a provider's share is rounded per line and the
platform fee is the exact complement, so Σ invoices = Σ payouts + Σ platform fees by construction.

Decisions where DOMAIN.md is silent (written down in docs/billing.md):

* several ``cpm`` plans of one feed covering the same use case: the lowest discounted price charges (then the
  lowest plan id); a ``flat_fee`` plan covering the use case takes precedence (its fee covers the usage);
* several subscriptions to the same flat-fee plan during the period: one fee (never prorated, never doubled);
* ``content_optimization`` usage (destinations flagged so, or feed-level rows of that use case) is never
  charged by CPM;
* another account's segment is never attributed: it is charged at its own CPM when it is public and priced,
  otherwise nothing is charged (recorded as uncharged);
* impressions that reach no chargeable (feed, use case) are kept on the invoice as ``uncharged`` with a
  reason, so every reported impression is accounted for;
* channel detail: impressions per channel on each CPM line; feed-level usage and flat fees carry no channel
  detail and count as channel ``unknown``; money per channel is split by largest remainder in minor units.
"""

from audiens.domain.invoicing.charging import build_invoice, rule_tree
from audiens.domain.invoicing.documents import (
    CPM,
    FLAT_FEE,
    KIND_FEED,
    KIND_FLAT_FEE,
    KIND_SEGMENT,
    UNKNOWN_CHANNEL,
    USE_CASES,
    USE_CONTENT_OPTIMIZATION,
    BillingInputError,
    ChannelShare,
    ChannelUsage,
    FeedUsage,
    Invoice,
    InvoiceInputs,
    InvoiceLine,
    LineKind,
    Party,
    Payout,
    PayoutLine,
    ProviderSlice,
    ReportRow,
    RevenueGroup,
    SegmentInfo,
    SegmentUsage,
    Subscription,
    Uncharged,
    Unit,
    invoice_id_for,
    payout_id_for,
    run_id_for,
)
from audiens.domain.invoicing.payouts import GroupBy, build_payout, provider_slices, revenue_groups, split_by_weight

__all__ = [
    "CPM",
    "FLAT_FEE",
    "KIND_FEED",
    "KIND_FLAT_FEE",
    "KIND_SEGMENT",
    "UNKNOWN_CHANNEL",
    "USE_CASES",
    "USE_CONTENT_OPTIMIZATION",
    "BillingInputError",
    "ChannelShare",
    "ChannelUsage",
    "FeedUsage",
    "GroupBy",
    "Invoice",
    "InvoiceInputs",
    "InvoiceLine",
    "LineKind",
    "Party",
    "Payout",
    "PayoutLine",
    "ProviderSlice",
    "ReportRow",
    "RevenueGroup",
    "SegmentInfo",
    "SegmentUsage",
    "Subscription",
    "Uncharged",
    "Unit",
    "build_invoice",
    "build_payout",
    "invoice_id_for",
    "payout_id_for",
    "provider_slices",
    "revenue_groups",
    "rule_tree",
    "run_id_for",
    "split_by_weight",
]
