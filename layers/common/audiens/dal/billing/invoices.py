"""The billing store's invoices: stored once with their provider slices and counted in one transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from pynamodb.exceptions import DoesNotExist, TransactWriteError
from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from audiens.dal.billing.common import (
    MAX_SLICES_IN_TRANSACTION,
    BillingTables,
    counter_pk,
    decode_token,
    encode_token,
    payees_pk,
    reasons,
    shard,
)
from audiens.dal.billing_documents import INVOICES, SLICES
from audiens.dal.billing_models import (
    InvoiceItem,
    ProviderSliceItem,
    RunCounterItem,
    RunPayeesItem,
)
from audiens.dal.idempotent import save_once, update_once, write_marker
from audiens.domain.invoicing import Invoice, ProviderSlice
from audiens.domain.periods import Period
from audiens.errors import ConflictError, NotFoundError, ValidationError
from audiens.ports.billing import BillingRun, StoredInvoice


def _to_invoice(item: InvoiceItem) -> StoredInvoice:
    return StoredInvoice(
        invoice=INVOICES.unpack(item.document),
        run_id=item.run_id,
        created_at=item.created_at,
        indexed=bool(item.indexed),
        voided_at=item.voided_at,
        void_reason=item.void_reason,
    )


def _slice_item(piece: ProviderSlice) -> ProviderSliceItem:
    return ProviderSliceItem(
        f"PAYIN#{piece.period}#{piece.provider_id}",
        f"INVOICE#{piece.buyer_id}",
        invoice_id=piece.invoice_id,
        buyer_id=piece.buyer_id,
        document=SLICES.pack(piece),
    )


class InvoiceStore(BillingTables):
    # -------------------------------------------------------------------------------- invoices
    def _invoice_item(self, run: BillingRun, invoice: Invoice, now: datetime, indexed: bool) -> InvoiceItem:
        listed = bool(invoice.lines)  # a buyer charged nothing gets no document: no index keys, never listed
        return InvoiceItem(
            f"INVOICE#{invoice.invoice_id}",
            "INVOICE",
            invoice_id=invoice.invoice_id,
            run_id=run.run_id,
            period=str(invoice.period),
            buyer_id=invoice.buyer_id,
            currency=invoice.currency,
            total=str(invoice.total),
            line_count=len(invoice.lines),
            document=INVOICES.pack(invoice),
            indexed=indexed,
            created_at=now,
            gsi1pk=f"INVOICES#{invoice.period}" if listed else None,
            gsi1sk=invoice.buyer_id if listed else None,
            gsi2pk=f"BUYER#{invoice.buyer_id}" if listed else None,
            gsi2sk=str(invoice.period) if listed else None,
        )

    @staticmethod
    def _count_invoice(tx: TransactWrite, invoice: Invoice) -> None:
        part = shard(invoice.buyer_id)
        actions: list[Action] = [RunCounterItem.invoices.add(1)]
        if not invoice.lines:
            actions.append(RunCounterItem.empty.add(1))
        tx.update(RunCounterItem(counter_pk(invoice.period), part), actions=actions)
        payees = {line.provider_id for line in invoice.lines}
        if payees:
            tx.update(RunPayeesItem(payees_pk(invoice.period), part), actions=[RunPayeesItem.providers.add(payees)])

    def get_invoice(self, invoice_id: str) -> StoredInvoice | None:
        try:
            return _to_invoice(InvoiceItem.get(f"INVOICE#{invoice_id}", "INVOICE", consistent_read=True))
        except DoesNotExist:
            return None

    def store_invoice(self, run: BillingRun, invoice: Invoice, slices: Sequence[ProviderSlice], now: datetime) -> bool:
        if len(slices) > MAX_SLICES_IN_TRANSACTION:
            return self._store_invoice_in_phases(run, invoice, slices, now)
        header = self._invoice_item(run, invoice, now, indexed=True)

        def build(tx: TransactWrite) -> None:
            tx.save(header, condition=InvoiceItem.pk.does_not_exist())
            for piece in slices:
                tx.save(_slice_item(piece))
            self._count_invoice(tx, invoice)

        try:
            self._transact(build, f"invoice:{invoice.invoice_id}")
            return True
        except TransactWriteError as error:
            if "ConditionalCheckFailed" in reasons(error):
                return False
            raise

    def _store_invoice_in_phases(
        self, run: BillingRun, invoice: Invoice, slices: Sequence[ProviderSlice], now: datetime
    ) -> bool:
        # Phase 1 fixes the document (first writer wins); phases 2-3 derive everything from it, so racing
        # or redelivered workers write identical slices and the conditional flag counts the invoice once.
        header = self._invoice_item(run, invoice, now, indexed=False)
        header.write_id = write_marker()
        if not save_once(header, InvoiceItem.pk.does_not_exist()):
            return False
        stored = StoredInvoice(invoice=invoice, run_id=run.run_id, created_at=now, indexed=False)
        self.finish_invoice(stored, slices)
        return True

    def finish_invoice(self, stored: StoredInvoice, slices: Sequence[ProviderSlice]) -> None:
        if stored.indexed:
            return
        with ProviderSliceItem.batch_write() as batch:
            for piece in slices:
                batch.save(_slice_item(piece))
        invoice = stored.invoice

        def build(tx: TransactWrite) -> None:
            tx.update(
                InvoiceItem(f"INVOICE#{invoice.invoice_id}", "INVOICE"),
                actions=[InvoiceItem.indexed.set(True)],
                condition=InvoiceItem.indexed == False,  # noqa: E712 - a PynamoDB condition, not a comparison
            )
            self._count_invoice(tx, invoice)

        try:
            self._transact(build, f"invoice-index:{invoice.invoice_id}")
        except TransactWriteError as error:
            if "ConditionalCheckFailed" not in reasons(error):
                raise

    def invoiced_buyers(self, period: Period) -> set[str]:
        return {
            item.buyer_id
            for item in InvoiceItem.by_period.query(
                f"INVOICES#{period}", attributes_to_get=["buyer_id", "indexed", "pk", "sk", "gsi1pk", "gsi1sk"]
            )
            if item.indexed
        }

    def list_invoices(
        self, *, period: Period | None, buyer_id: str | None, limit: int, token: str | None
    ) -> tuple[list[StoredInvoice], str | None]:
        start = decode_token(token)
        if period is not None:
            condition = InvoiceItem.gsi1sk == buyer_id if buyer_id is not None else None
            results = InvoiceItem.by_period.query(
                f"INVOICES#{period}", condition, limit=limit, last_evaluated_key=start
            )
        elif buyer_id is not None:
            results = InvoiceItem.by_buyer.query(
                f"BUYER#{buyer_id}", scan_index_forward=False, limit=limit, last_evaluated_key=start
            )
        else:
            raise ValidationError("Give the period to list invoices of every buyer.", code="period_required")
        items = [_to_invoice(item) for item in results]
        return items, encode_token(results.last_evaluated_key) if len(items) >= limit else None

    def void_invoice(self, invoice_id: str, reason: str, now: datetime) -> StoredInvoice:
        voided = update_once(
            InvoiceItem(f"INVOICE#{invoice_id}", "INVOICE"),
            [InvoiceItem.voided_at.set(now), InvoiceItem.void_reason.set(reason)],
            InvoiceItem.pk.exists() & InvoiceItem.voided_at.does_not_exist(),
            lambda stored: stored.voided_at == now and stored.void_reason == reason,
        )
        if not voided:
            if self.get_invoice(invoice_id) is None:
                raise NotFoundError(f"Invoice {invoice_id} does not exist.")
            raise ConflictError(f"Invoice {invoice_id} is already void.", code="invoice_already_void")
        stored = self.get_invoice(invoice_id)
        assert stored is not None
        return stored
