"""Slices, payouts and revenue (DOMAIN.md §10), as pure functions.

:func:`provider_slices` cuts an invoice into the part each provider is paid for; :func:`build_payout` turns
every slice of one provider into its payout: per invoice line, the provider's share is rounded and the
platform fee is the exact complement, so Σ invoices = Σ payouts + Σ platform fees by construction.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Literal

from audiens.domain.attribution import largest_remainder
from audiens.domain.invoicing.documents import (
    UNKNOWN_CHANNEL,
    BillingInputError,
    ChannelShare,
    Invoice,
    InvoiceLine,
    Party,
    Payout,
    PayoutLine,
    ProviderSlice,
    ReportRow,
    RevenueGroup,
    payout_id_for,
)
from audiens.domain.money import from_minor_units, split_revenue, to_minor_units
from audiens.domain.periods import Period

__all__ = ["GroupBy", "build_payout", "provider_slices", "revenue_groups", "split_by_weight"]


def provider_slices(invoice: Invoice) -> dict[str, ProviderSlice]:
    """The invoice cut per provider: stored under the provider's key so its payout is one query."""
    lines: dict[str, list[InvoiceLine]] = defaultdict(list)
    rows: dict[str, list[ReportRow]] = defaultdict(list)
    for line in invoice.lines:
        lines[line.provider_id].append(line)
    for row in invoice.report_rows:
        rows[row.provider_id].append(row)
    return {
        provider_id: ProviderSlice(
            invoice_id=invoice.invoice_id,
            period=invoice.period,
            buyer_id=invoice.buyer_id,
            buyer_name=invoice.buyer_name,
            provider_id=provider_id,
            currency=invoice.currency,
            lines=tuple(lines.get(provider_id, ())),
            report_rows=tuple(rows.get(provider_id, ())),
        )
        for provider_id in invoice.provider_ids
    }


def split_by_weight(amount: Decimal, keys: Sequence[str], weights: Sequence[int], currency: str) -> list[Decimal]:
    """Split a rounded amount over keys in proportion to weights, exactly, by largest remainder in minor units.

    Used for revenue by channel: the parts are whole minor units and add back to ``amount`` to the unit.
    """
    units = to_minor_units(amount, currency)
    if units < 0:
        raise ValueError("only non-negative amounts are split")
    shares = largest_remainder(units, list(weights), list(keys))
    return [from_minor_units(share, currency) for share in shares]


def build_payout(provider: Party, period: Period, currency: str, slices: Iterable[ProviderSlice]) -> Payout:
    """The provider's payout: per invoice line, share = round(amount * revenue share), fee = the rest."""
    lines: list[PayoutLine] = []
    ordered = sorted(slices, key=lambda s: (s.buyer_id, s.invoice_id))
    for piece in ordered:
        if piece.provider_id != provider.account_id:
            raise BillingInputError(f"slice of provider {piece.provider_id!r} given to {provider.account_id!r}")
        if piece.currency != currency:
            raise BillingInputError(f"invoice {piece.invoice_id} is in {piece.currency}, the payout in {currency}")
        for line in piece.lines:
            share, fee = split_revenue(line.amount, provider.revenue_share, currency)
            keys, weights, names = line.channel_weights()
            gross_parts = split_by_weight(line.amount, keys, weights, currency)
            share_parts = split_by_weight(share, keys, weights, currency)
            lines.append(
                PayoutLine(
                    invoice_id=piece.invoice_id,
                    invoice_line_no=line.line_no,
                    buyer_id=piece.buyer_id,
                    buyer_name=piece.buyer_name,
                    kind=line.kind,
                    use_case=line.use_case,
                    unit=line.unit,
                    gross=line.amount,
                    provider_share=share,
                    platform_fee=fee,
                    impressions=line.impressions,
                    feed_id=line.feed_id,
                    feed_name=line.feed_name,
                    segment_id=line.segment_id,
                    segment_name=line.segment_name,
                    plan_id=line.plan_id,
                    channels=tuple(
                        ChannelShare(key, gross, part, names.get(key))
                        for key, gross, part in zip(keys, gross_parts, share_parts, strict=True)
                    ),
                )
            )
    zero = from_minor_units(0, currency)
    return Payout(
        payout_id=payout_id_for(provider.account_id, period),
        period=period,
        provider_id=provider.account_id,
        provider_name=provider.name,
        currency=currency,
        revenue_share=provider.revenue_share,
        lines=tuple(lines),
        gross=sum((line.gross for line in lines), zero),
        amount=sum((line.provider_share for line in lines), zero),
        platform_fee=sum((line.platform_fee for line in lines), zero),
    )


GroupBy = Literal["total", "buyer", "channel"]


def revenue_groups(payout: Payout, group_by: GroupBy) -> list[RevenueGroup]:
    """The provider's revenue (its share) and gross sales, grouped; the groups add up to the payout exactly."""
    zero = from_minor_units(0, payout.currency)
    amounts: dict[str, list[Decimal]] = defaultdict(lambda: [zero, zero])
    names: dict[str, str] = {}
    for line in payout.lines:
        if group_by == "total":
            parts: Iterable[tuple[str, str | None, Decimal, Decimal]] = [
                ("total", "Total", line.provider_share, line.gross)
            ]
        elif group_by == "buyer":
            parts = [(line.buyer_id, line.buyer_name, line.provider_share, line.gross)]
        else:
            parts = [(c.channel_id, c.name, c.provider_share, c.gross) for c in line.channels]
        for key, name, share, gross in parts:
            amounts[key][0] += share
            amounts[key][1] += gross
            if name:
                names.setdefault(key, name)
    if group_by == "total" and not amounts:
        amounts["total"] = [zero, zero]
    return [
        RevenueGroup(key=key, name=names.get(key, "Unknown" if key == UNKNOWN_CHANNEL else key), amount=a, gross=g)
        for key, (a, g) in sorted(amounts.items(), key=lambda kv: (-kv[1][0], kv[0]))
    ]
