"""The billing store's payouts: a provider's slices in, its payout stored once and counted; the period's totals."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from pynamodb.exceptions import DoesNotExist, TransactWriteError
from pynamodb.transactions import TransactWrite

from audiens.dal.billing.common import (
    BillingTables,
    counter_pk,
    decode_token,
    encode_token,
    reasons,
    shard,
)
from audiens.dal.billing_documents import PAYOUTS, SLICES
from audiens.dal.billing_models import (
    InvoiceItem,
    PayoutItem,
    ProviderSliceItem,
    RunCounterItem,
)
from audiens.domain.invoicing import Payout, ProviderSlice
from audiens.domain.periods import Period
from audiens.errors import ValidationError
from audiens.ports.billing import BillingRun, StoredPayout


def _to_payout(item: PayoutItem) -> StoredPayout:
    return StoredPayout(payout=PAYOUTS.unpack(item.document), run_id=item.run_id, created_at=item.created_at)


class PayoutStore(BillingTables):
    # --------------------------------------------------------------------------------- payouts
    def provider_slices(self, period: Period, provider_id: str) -> list[ProviderSlice]:
        return [
            SLICES.unpack(item.document)
            for item in ProviderSliceItem.query(f"PAYIN#{period}#{provider_id}", consistent_read=True)
        ]

    def get_payout(self, payout_id: str) -> StoredPayout | None:
        try:
            return _to_payout(PayoutItem.get(f"PAYOUT#{payout_id}", "PAYOUT", consistent_read=True))
        except DoesNotExist:
            return None

    def store_payout(self, run: BillingRun, payout: Payout, now: datetime) -> bool:
        item = PayoutItem(
            f"PAYOUT#{payout.payout_id}",
            "PAYOUT",
            payout_id=payout.payout_id,
            run_id=run.run_id,
            period=str(payout.period),
            provider_id=payout.provider_id,
            currency=payout.currency,
            gross=str(payout.gross),
            amount=str(payout.amount),
            platform_fee=str(payout.platform_fee),
            document=PAYOUTS.pack(payout),
            created_at=now,
            gsi1pk=f"PAYOUTS#{payout.period}",
            gsi1sk=payout.provider_id,
            gsi2pk=f"PROVIDER#{payout.provider_id}",
            gsi2sk=str(payout.period),
        )

        def build(tx: TransactWrite) -> None:
            tx.save(item, condition=PayoutItem.pk.does_not_exist())
            tx.update(
                RunCounterItem(counter_pk(payout.period), shard(payout.provider_id)),
                actions=[RunCounterItem.payouts.add(1)],
            )

        try:
            self._transact(build, f"payout:{payout.period}:{payout.provider_id}")
            return True
        except TransactWriteError as error:
            if "ConditionalCheckFailed" in reasons(error):
                return False
            raise

    def paid_providers(self, period: Period) -> set[str]:
        return {
            item.provider_id
            for item in PayoutItem.by_period.query(
                f"PAYOUTS#{period}", attributes_to_get=["provider_id", "pk", "sk", "gsi1pk", "gsi1sk"]
            )
        }

    def period_totals(self, period: Period) -> tuple[Decimal, Decimal, Decimal]:
        invoiced = sum(
            (
                Decimal(item.total)
                for item in InvoiceItem.by_period.query(
                    f"INVOICES#{period}", attributes_to_get=["total", "pk", "sk", "gsi1pk", "gsi1sk"]
                )
            ),
            Decimal(0),
        )
        paid = fees = Decimal(0)
        for item in PayoutItem.by_period.query(
            f"PAYOUTS#{period}", attributes_to_get=["amount", "platform_fee", "pk", "sk", "gsi1pk", "gsi1sk"]
        ):
            paid += Decimal(item.amount)
            fees += Decimal(item.platform_fee)
        return invoiced, paid, fees

    def list_payouts(
        self, *, period: Period | None, provider_id: str | None, limit: int, token: str | None
    ) -> tuple[list[StoredPayout], str | None]:
        start = decode_token(token)
        if period is not None:
            condition = PayoutItem.gsi1sk == provider_id if provider_id is not None else None
            results = PayoutItem.by_period.query(f"PAYOUTS#{period}", condition, limit=limit, last_evaluated_key=start)
        elif provider_id is not None:
            results = PayoutItem.by_provider.query(
                f"PROVIDER#{provider_id}", scan_index_forward=False, limit=limit, last_evaluated_key=start
            )
        else:
            raise ValidationError("Give the period to list payouts of every provider.", code="period_required")
        items = [_to_payout(item) for item in results]
        return items, encode_token(results.last_evaluated_key) if len(items) >= limit else None
