"""The billing store's period state and runs: closing, the buyer snapshot, the counters, the failed jobs."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime

from pynamodb.exceptions import DoesNotExist, PutError, TransactWriteError, UpdateError
from pynamodb.transactions import TransactWrite

from audiens.dal.base import conditional_failed, retry_conflicts
from audiens.dal.billing.common import (
    BUYERS_PER_CHUNK,
    MAX_TRANSACTION_ITEMS,
    BillingTables,
    counter_pk,
    payees_pk,
    reasons,
    run_pk,
)
from audiens.dal.billing_models import (
    BillingRunItem,
    FailedJobItem,
    RunBuyersItem,
    RunCounterItem,
    RunPayeesItem,
    RunPayoutPlanItem,
)
from audiens.dal.period_models import CLOSED, CLOSING, OPEN, PeriodStateItem
from audiens.domain.periods import Period
from audiens.ports.billing import BillingRun, FailedJob, RunCounts

PLAN_PAGE = 1_000  # providers per page of the payout plan: ~40 KB an item at most, far under 400 KB


def _plan_id(providers: Sequence[str]) -> str:
    return hashlib.sha256("\n".join(providers).encode()).hexdigest()[:16]


def _plan_pages(period: Period, plan: str, pages: int) -> tuple[str, ...]:
    """The plan's providers, page by page (one query, strongly consistent; every page is there)."""
    providers: list[str] = []
    read = 0
    for page in RunPayoutPlanItem.query(
        run_pk(period), RunPayoutPlanItem.sk.startswith(f"PLAN#{plan}#"), consistent_read=True
    ):
        providers.extend(page.providers)
        read += 1
    if read != pages:
        raise RuntimeError(f"the payout plan of {period} has {read} of its {pages} pages")
    return tuple(providers)


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
        payout_providers=_plan_pages(Period.parse(item.period), item.payout_plan, int(item.payout_plan_pages or 0))
        if item.payout_plan
        else (),
        payouts_enqueued=bool(item.payouts_enqueued),
        completed_at=item.completed_at,
    )


class RunStore(BillingTables):
    # ------------------------------------------------------------------------------ period state
    def begin_closing(self, period: Period, run_id: str, now: datetime) -> str:
        pk, sk = PeriodStateItem.key(str(period))
        item = PeriodStateItem(pk, sk, period=str(period), state=CLOSING, changed_at=now, run_id=run_id)
        try:
            retry_conflicts(lambda: item.save(condition=PeriodStateItem.open_condition()))
            return CLOSING
        except PutError as error:
            if not conditional_failed(error):
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
            self._transact(build, f"run-create:{run.period}:{run.run_id}")
            return run, True
        except TransactWriteError as error:
            if "ConditionalCheckFailed" not in reasons(error):
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
        """Fix the run's payout plan once: its pages first (``PLAN#<id>#<page>``, ``PLAN_PAGE`` providers each,
        the id a digest of the list), then the run names the plan, conditioned on having none yet. A racing
        fan-in with the same list rewrites the same pages; one with another list leaves pages no run names."""
        plan = _plan_id(providers)
        with RunPayoutPlanItem.batch_write() as batch:
            for index, start in enumerate(range(0, len(providers), PLAN_PAGE)):
                page = list(providers[start : start + PLAN_PAGE])
                batch.save(RunPayoutPlanItem(run_pk(period), f"PLAN#{plan}#{index:04d}", providers=page))
        item = BillingRunItem(run_pk(period), "RUN")
        try:
            item.update(
                actions=[
                    BillingRunItem.expected_payouts.set(len(providers)),
                    BillingRunItem.payout_plan.set(plan),
                    BillingRunItem.payout_plan_pages.set(-(-len(providers) // PLAN_PAGE)),
                ],
                condition=BillingRunItem.expected_payouts.does_not_exist() & BillingRunItem.pk.exists(),
            )
        except UpdateError as error:
            if not conditional_failed(error):
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
            self._transact(build, f"run-complete:{period}")
            return True
        except TransactWriteError as error:
            if "ConditionalCheckFailed" not in reasons(error):
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
