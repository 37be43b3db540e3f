"""DynamoDB and SQS adapters of the monthly close (``BillingStore``, ``BillingJobs``).

Exactly-once lives here, in conditional writes and transactions, not in the hope that a message arrives
once:

* the run is created once per period (deterministic key, ``attribute_not_exists``), together with the
  snapshot of the buyers it must invoice, in one transaction;
* an invoice is created once (deterministic id, ``attribute_not_exists``) in the same transaction as its
  provider slices and the increment of a counter shard — so a redelivered job, or one whose worker died
  after the commit, can neither create a second invoice nor count the first one twice;
* a payout likewise, with its own counter;
* the run completes (``running`` → ``completed``) and the period closes (``CLOSING`` → ``CLOSED``) in one
  transaction across the billing and usage tables.

Counters are sharded (``COUNT#<period>`` / ``00``..``15``) so a thousand concurrent invoice transactions do
not all collide on one item; the fan-in reads every shard in one strongly consistent query of their own
small partition (the counts alone on every check, the providers seen only once every invoice exists).
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from decimal import Decimal
from functools import cached_property
from typing import Any, Final

from pynamodb.connection import Connection
from pynamodb.exceptions import DoesNotExist, PutError, TransactWriteError, UpdateError
from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from audiens.dal.aws import client
from audiens.dal.base import connection
from audiens.dal.billing_documents import INVOICES, PAYOUTS, SLICES
from audiens.dal.billing_models import (
    BillingRunItem,
    FailedJobItem,
    InvoiceItem,
    PayoutItem,
    ProviderSliceItem,
    RunBuyersItem,
    RunCounterItem,
    RunPayeesItem,
)
from audiens.dal.period_models import CLOSED, CLOSING, OPEN, PeriodStateItem
from audiens.domain.invoicing import Invoice, Payout, ProviderSlice
from audiens.domain.periods import Period
from audiens.errors import ConflictError, NotFoundError, ValidationError
from audiens.observability import logger
from audiens.services.billing_ports import BillingRun, FailedJob, RunCounts, StoredInvoice, StoredPayout

COUNTER_SHARDS: Final = 16
BUYERS_PER_CHUNK: Final = 2000
MAX_TRANSACTION_ITEMS: Final = 100
# Header + counter shard + payees shard + slices must fit one transaction; larger ones are stored in phases.
MAX_SLICES_IN_TRANSACTION: Final = MAX_TRANSACTION_ITEMS - 3
_CONFLICT_RETRIES: Final = 6


def run_pk(period: Period | str) -> str:
    return f"RUN#{period}"


def counter_pk(period: Period | str) -> str:
    return f"COUNT#{period}"


def payees_pk(period: Period | str) -> str:
    return f"PAYEES#{period}"


def _shard(entity_id: str) -> str:
    return f"{int(hashlib.sha256(entity_id.encode()).hexdigest()[:8], 16) % COUNTER_SHARDS:02d}"


def _reasons(error: TransactWriteError) -> list[str]:
    reasons = getattr(error, "cancellation_reasons", None) or []
    return [r.code if r is not None else "None" for r in reasons]


def _conditional_failed(error: PutError | UpdateError) -> bool:
    return getattr(error, "cause_response_code", None) == "ConditionalCheckFailedException"


def encode_token(key: dict[str, Any] | None) -> str | None:
    if not key:
        return None
    return base64.urlsafe_b64encode(json.dumps(key, sort_keys=True).encode()).decode().rstrip("=")


def decode_token(token: str | None) -> dict[str, Any] | None:
    if not token:
        return None
    try:
        padded = token + "=" * (-len(token) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, UnicodeDecodeError):
        data = None
    if not isinstance(data, dict):
        raise ValidationError("next_token is not a token this API returned.", code="invalid_next_token")
    return data


def _to_run(item: BillingRunItem) -> BillingRun:
    return BillingRun(
        run_id=item.run_id,
        period=Period.parse(item.period),
        status="completed" if item.status == "completed" else "running",
        currency=item.currency,
        trigger=item.trigger,
        created_at=item.created_at,
        expected_invoices=int(item.expected_invoices),
        expected_payouts=None if item.expected_payouts is None else int(item.expected_payouts),
        payout_providers=tuple(item.payout_providers or ()),
        payouts_enqueued=bool(item.payouts_enqueued),
        completed_at=item.completed_at,
    )


def _to_invoice(item: InvoiceItem) -> StoredInvoice:
    return StoredInvoice(
        invoice=INVOICES.unpack(item.document),
        run_id=item.run_id,
        created_at=item.created_at,
        indexed=bool(item.indexed),
        voided_at=item.voided_at,
        void_reason=item.void_reason,
    )


def _to_payout(item: PayoutItem) -> StoredPayout:
    return StoredPayout(payout=PAYOUTS.unpack(item.document), run_id=item.run_id, created_at=item.created_at)


def _slice_item(piece: ProviderSlice) -> ProviderSliceItem:
    return ProviderSliceItem(
        f"PAYIN#{piece.period}#{piece.provider_id}",
        f"INVOICE#{piece.buyer_id}",
        invoice_id=piece.invoice_id,
        buyer_id=piece.buyer_id,
        document=SLICES.pack(piece),
    )


class DynamoBillingStore:
    def __init__(self, region: str) -> None:
        self._region = region

    @cached_property
    def _connection(self) -> Connection:
        return connection(self._region)

    def _transact(self, build: Callable[[TransactWrite], None]) -> None:
        """Run a transaction, retrying the conflicts concurrent workers cause; conditions failing propagate."""
        for attempt in range(_CONFLICT_RETRIES):
            try:
                with TransactWrite(connection=self._connection) as tx:
                    build(tx)
                return
            except TransactWriteError as error:
                reasons = _reasons(error)
                if "TransactionConflict" not in reasons or "ConditionalCheckFailed" in reasons:
                    raise
                if attempt == _CONFLICT_RETRIES - 1:
                    raise
                time.sleep(random.uniform(0, 0.05 * 2**attempt))

    # ------------------------------------------------------------------------------ period state
    def begin_closing(self, period: Period, run_id: str, now: datetime) -> str:
        pk, sk = PeriodStateItem.key(str(period))
        item = PeriodStateItem(pk, sk, period=str(period), state=CLOSING, changed_at=now, run_id=run_id)
        try:
            item.save(condition=PeriodStateItem.open_condition())
            return CLOSING
        except PutError as error:
            if not _conditional_failed(error):
                raise
        return self.period_state(period)

    def period_state(self, period: Period) -> str:
        try:
            item = PeriodStateItem.get(*PeriodStateItem.key(str(period)), consistent_read=True)
        except DoesNotExist:
            return OPEN
        return str(item.state)

    # ------------------------------------------------------------------------------------ runs
    def get_run(self, period: Period) -> BillingRun | None:
        try:
            return _to_run(BillingRunItem.get(run_pk(period), "RUN", consistent_read=True))
        except DoesNotExist:
            return None

    def create_run(self, run: BillingRun, buyers: Sequence[str]) -> tuple[BillingRun, bool]:
        chunks = [list(buyers[i : i + BUYERS_PER_CHUNK]) for i in range(0, len(buyers), BUYERS_PER_CHUNK)]
        if len(chunks) + 1 > MAX_TRANSACTION_ITEMS:
            raise RuntimeError(f"{len(buyers)} buyers exceed what one run snapshot can hold")
        item = BillingRunItem(
            run_pk(run.period),
            "RUN",
            run_id=run.run_id,
            period=str(run.period),
            status=run.status,
            currency=run.currency,
            trigger=run.trigger,
            created_at=run.created_at,
            expected_invoices=run.expected_invoices,
            payouts_enqueued=False,
            gsi1pk="RUNS",
            gsi1sk=str(run.period),
        )

        def build(tx: TransactWrite) -> None:
            tx.save(item, condition=BillingRunItem.pk.does_not_exist())
            for index, chunk in enumerate(chunks):
                tx.save(RunBuyersItem(run_pk(run.period), f"BUYERS#{index:04d}", buyers=chunk))

        try:
            self._transact(build)
            return run, True
        except TransactWriteError as error:
            if "ConditionalCheckFailed" not in _reasons(error):
                raise
        existing = self.get_run(run.period)
        assert existing is not None
        return existing, False

    def run_buyers(self, period: Period) -> list[str]:
        buyers: list[str] = []
        for chunk in RunBuyersItem.query(run_pk(period), RunBuyersItem.sk.startswith("BUYERS#"), consistent_read=True):
            buyers.extend(chunk.buyers)
        return buyers

    def counts(self, period: Period, *, providers: bool = False) -> RunCounts:
        invoices = payouts = empty = 0
        for shard in RunCounterItem.query(counter_pk(period), consistent_read=True):
            invoices += int(shard.invoices or 0)
            empty += int(shard.empty or 0)
            payouts += int(shard.payouts or 0)
        seen: set[str] = set()
        if providers:
            for payees in RunPayeesItem.query(payees_pk(period), consistent_read=True):
                seen.update(payees.providers or ())
        return RunCounts(invoices=invoices, payouts=payouts, providers=frozenset(seen), empty=empty)

    def plan_payouts(self, period: Period, providers: Sequence[str]) -> BillingRun:
        item = BillingRunItem(run_pk(period), "RUN")
        try:
            item.update(
                actions=[
                    BillingRunItem.expected_payouts.set(len(providers)),
                    BillingRunItem.payout_providers.set(list(providers)),
                ],
                condition=BillingRunItem.expected_payouts.does_not_exist() & BillingRunItem.pk.exists(),
            )
        except UpdateError as error:
            if not _conditional_failed(error):
                raise
        run = self.get_run(period)
        assert run is not None
        return run

    def mark_payouts_enqueued(self, period: Period) -> None:
        BillingRunItem(run_pk(period), "RUN").update(
            actions=[BillingRunItem.payouts_enqueued.set(True)], condition=BillingRunItem.pk.exists()
        )

    def complete_run(self, period: Period, now: datetime) -> bool:
        def build(tx: TransactWrite) -> None:
            tx.update(
                BillingRunItem(run_pk(period), "RUN"),
                actions=[BillingRunItem.status.set("completed"), BillingRunItem.completed_at.set(now)],
                condition=BillingRunItem.status == "running",
            )
            tx.update(
                PeriodStateItem(*PeriodStateItem.key(str(period))),
                actions=[PeriodStateItem.state.set(CLOSED), PeriodStateItem.changed_at.set(now)],
                condition=PeriodStateItem.state.is_in(CLOSING, CLOSED),
            )

        try:
            self._transact(build)
            return True
        except TransactWriteError as error:
            if "ConditionalCheckFailed" not in _reasons(error):
                raise
            return False

    def record_failure(self, period: Period, failure: FailedJob) -> None:
        FailedJobItem(
            run_pk(period),
            f"FAILED#{failure.kind}#{failure.entity_id}",
            kind=failure.kind,
            entity_id=failure.entity_id,
            error=failure.error[:2000],
            attempts=failure.attempts,
            failed_at=failure.failed_at,
        ).save()

    def failures(self, period: Period) -> list[FailedJob]:
        return [
            FailedJob(
                kind="payout" if item.kind == "payout" else "invoice",
                entity_id=item.entity_id,
                error=item.error,
                attempts=int(item.attempts),
                failed_at=item.failed_at,
            )
            for item in FailedJobItem.query(
                run_pk(period), FailedJobItem.sk.startswith("FAILED#"), consistent_read=True
            )
        ]

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
        shard = _shard(invoice.buyer_id)
        actions: list[Action] = [RunCounterItem.invoices.add(1)]
        if not invoice.lines:
            actions.append(RunCounterItem.empty.add(1))
        tx.update(RunCounterItem(counter_pk(invoice.period), shard), actions=actions)
        payees = {line.provider_id for line in invoice.lines}
        if payees:
            tx.update(RunPayeesItem(payees_pk(invoice.period), shard), actions=[RunPayeesItem.providers.add(payees)])

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
            self._transact(build)
            return True
        except TransactWriteError as error:
            if "ConditionalCheckFailed" in _reasons(error):
                return False
            raise

    def _store_invoice_in_phases(
        self, run: BillingRun, invoice: Invoice, slices: Sequence[ProviderSlice], now: datetime
    ) -> bool:
        # Phase 1 fixes the document (first writer wins); phases 2-3 derive everything from it, so racing
        # or redelivered workers write identical slices and the conditional flag counts the invoice once.
        header = self._invoice_item(run, invoice, now, indexed=False)
        try:
            header.save(condition=InvoiceItem.pk.does_not_exist())
        except PutError as error:
            if _conditional_failed(error):
                return False
            raise
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
            self._transact(build)
        except TransactWriteError as error:
            if "ConditionalCheckFailed" not in _reasons(error):
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
        item = InvoiceItem(f"INVOICE#{invoice_id}", "INVOICE")
        try:
            item.update(
                actions=[InvoiceItem.voided_at.set(now), InvoiceItem.void_reason.set(reason)],
                condition=InvoiceItem.pk.exists() & InvoiceItem.voided_at.does_not_exist(),
            )
        except UpdateError as error:
            if not _conditional_failed(error):
                raise
            if self.get_invoice(invoice_id) is None:
                raise NotFoundError(f"Invoice {invoice_id} does not exist.") from error
            raise ConflictError(f"Invoice {invoice_id} is already void.", code="invoice_already_void") from error
        stored = self.get_invoice(invoice_id)
        assert stored is not None
        return stored

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
                RunCounterItem(counter_pk(payout.period), _shard(payout.provider_id)),
                actions=[RunCounterItem.payouts.add(1)],
            )

        try:
            self._transact(build)
            return True
        except TransactWriteError as error:
            if "ConditionalCheckFailed" in _reasons(error):
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


class SqsBillingJobs:
    """Both job queues; SendMessageBatch of 10 (the SQS maximum), ids only in the body."""

    BATCH: Final = 10
    _RETRIES: Final = 3

    def __init__(self, invoice_queue_url: str | None, payout_queue_url: str | None, region: str) -> None:
        self._invoice_queue_url = invoice_queue_url
        self._payout_queue_url = payout_queue_url
        self._region = region

    @cached_property
    def _client(self) -> Any:
        return client("sqs", self._region)

    def send_invoice_jobs(self, run_id: str, period: Period, buyer_ids: Sequence[str]) -> int:
        if not self._invoice_queue_url:
            raise RuntimeError("INVOICE_JOBS_QUEUE_URL is not set for this function")
        bodies = [{"run_id": run_id, "period": str(period), "buyer_id": buyer} for buyer in buyer_ids]
        return self._send(self._invoice_queue_url, bodies)

    def send_payout_jobs(self, run_id: str, period: Period, provider_ids: Sequence[str]) -> int:
        if not self._payout_queue_url:
            raise RuntimeError("PAYOUT_JOBS_QUEUE_URL is not set for this function")
        bodies = [{"run_id": run_id, "period": str(period), "provider_id": provider} for provider in provider_ids]
        return self._send(self._payout_queue_url, bodies)

    def _send(self, queue_url: str, bodies: Sequence[dict[str, str]]) -> int:
        calls = 0
        for start in range(0, len(bodies), self.BATCH):
            entries = [
                {"Id": str(index), "MessageBody": json.dumps(body, separators=(",", ":"))}
                for index, body in enumerate(bodies[start : start + self.BATCH])
            ]
            for attempt in range(self._RETRIES):
                calls += 1
                response = self._client.send_message_batch(QueueUrl=queue_url, Entries=entries)
                failed = {f["Id"] for f in response.get("Failed", [])}
                if not failed:
                    break
                entries = [entry for entry in entries if entry["Id"] in failed]
                logger.warning("SendMessageBatch partly failed; retrying", extra={"failed": len(failed)})
                if attempt == self._RETRIES - 1:
                    raise RuntimeError(f"{len(failed)} billing jobs could not be enqueued")
        return calls


__all__ = ["COUNTER_SHARDS", "MAX_SLICES_IN_TRANSACTION", "DynamoBillingStore", "SqsBillingJobs"]
