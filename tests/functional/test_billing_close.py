"""The monthly close, exactly once and nothing lost (DOMAIN.md §9-§10), through the real handlers on moto.

The inputs come from the in-memory ``BillingInputs`` fake; everything else is real: the schedule handler,
the SQS queues and their DLQs from the template, both workers with partial batch failures, DynamoDB.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import boto3
import pytest

from audiens.dal.billing import DynamoBillingStore
from audiens.dal.billing.runs import PLAN_PAGE
from audiens.dal.billing_models import RunPayoutPlanItem
from audiens.domain.invoicing import invoice_id_for
from audiens.domain.periods import Period
from audiens.ports.billing import BillingRun
from audiens.services.billing import BillingService
from local_runtime import dynamodb_limits
from local_runtime.dynamodb_limits import ITEM_LIMIT, Limits, item_size
from tests.functional.billing_helpers import Billing, standard_world
from tests.support.aws import REGION, drain
from tests.support.billing import PERIOD, SCHEDULE_TIME, deliver, utc
from tests.support.lambda_api import load_handler

BUYERS = {"buyer_1", "buyer_2", "buyer_3"}
PAYEES = {"prov_a", "prov_b", "prov_c"}


def assert_exactly_once(b: Billing) -> None:
    """One invoice per buyer, one payout per provider, counters exact, run completed, period CLOSED, books balance."""
    invoices, payouts = b.documents()
    assert len(b.invoice_items()) == len(invoices) == len(BUYERS)
    assert set(invoices) == BUYERS
    assert len(b.payout_items()) == len(payouts) and set(payouts) == PAYEES
    report = b.run()
    assert report.run.status == "completed"
    assert report.counts.invoices == report.run.expected_invoices == len(BUYERS)
    assert report.counts.payouts == report.run.expected_payouts == len(PAYEES)
    assert report.failed_jobs == []
    assert b.state() == "CLOSED"
    b.assert_books_balance()


def test_given_a_month_of_usage_when_the_schedule_fires_then_every_buyer_is_invoiced_and_every_provider_paid(
    billing: Billing,
) -> None:
    # Given three buyers and three providers with usage for October
    standard_world(billing.inputs)
    # When the schedule fires at 00:00 UTC on November 6th and the queues are drained like Lambda would
    closed = billing.close()
    assert closed["period"] == "2026-10" and closed["invoice_jobs_sent"] == 3 and closed["send_calls"] == 1
    assert billing.state() == "CLOSING"  # usage is frozen from the close on
    invoices = billing.invoices()
    assert billing.run().run.payouts_enqueued  # the fan-in happened with the last invoice
    billing.payouts()
    # Then exactly one invoice per buyer, one payout per provider, and the books balance
    assert invoices.failures == 0
    assert_exactly_once(billing)
    # And the published worked examples come out of the invoice (buyer_1's OR rule, case 2)
    documents, payouts = billing.documents()
    assert documents["buyer_3"] == "4938.27"  # 1,234,567 x 4.00 / 1000, rounded once
    assert payouts["prov_b"][0] == str(
        sum(
            (Decimal(line.gross) for line in billing.service().compute_payout("prov_b", PERIOD, "USD").lines),
            Decimal(0),
        )
    )


def test_given_a_completed_close_when_the_schedule_is_delivered_again_or_late_then_nothing_changes(
    billing: Billing,
) -> None:
    # Given a completed close
    standard_world(billing.inputs)
    billing.run_to_completion()
    before = billing.documents()
    # When the same schedule is delivered again, and a late retry arrives three days later
    again = billing.close()
    late = billing.close("2026-11-09T13:30:00Z")
    # Then both name the same (completed) run of October and send nothing
    for result in (again, late):
        assert result["period"] == "2026-10" and result["status"] == "completed"
        assert result["created"] is False and result["invoice_jobs_sent"] == 0 and result["payout_jobs_sent"] == 0
    assert billing.queued("InvoiceJobsQueue") == 0 and billing.queued("PayoutJobsQueue") == 0
    # And the documents are identical
    assert billing.documents() == before
    assert_exactly_once(billing)


def test_given_the_schedule_delivered_twice_before_any_worker_ran_when_the_queues_drain_then_still_exactly_once(
    billing: Billing,
) -> None:
    # Given the close delivered twice in a row (the second re-sends the jobs of buyers without an invoice)
    standard_world(billing.inputs)
    first = billing.close()
    second = billing.close()
    assert first["created"] is True and second["created"] is False
    assert billing.queued("InvoiceJobsQueue") == 2 * len(BUYERS)
    # When every job (duplicates included) is processed
    billing.invoices()
    billing.payouts()
    # Then each buyer has one invoice, counted once, and each provider one payout
    assert_exactly_once(billing)


def test_given_a_late_schedule_delivery_when_it_fires_then_it_closes_the_previous_month_not_the_current_one(
    billing: Billing,
) -> None:
    # Given October usage; When the schedule's delivery is retried on November 20th
    standard_world(billing.inputs)
    result = billing.close("2026-11-20T08:00:00Z")
    # Then October is closed (November's window is not even open yet)
    assert result["period"] == "2026-10"
    assert billing.state(Period(2026, 11)) == "OPEN"


def test_given_an_invoice_job_delivered_twice_when_both_are_processed_then_one_invoice_counted_once(
    billing: Billing,
) -> None:
    # Given the close, and each invoice job duplicated on the queue (SQS is at-least-once)
    standard_world(billing.inputs)
    billing.close()
    messages = drain(billing.stack["InvoiceJobsQueue"])
    sqs = boto3.client("sqs", region_name=REGION)
    url = sqs.get_queue_url(QueueName=billing.stack["InvoiceJobsQueue"].rsplit("/", 1)[-1])["QueueUrl"]
    for message in messages + messages:
        sqs.send_message(QueueUrl=url, MessageBody=message["Body"])
    # When the worker processes all six
    billing.invoices()
    billing.payouts()
    # Then three invoices exist, the counter says three (not six), and the run completed once
    assert_exactly_once(billing)


def test_given_an_invoice_worker_that_crashes_after_its_commit_when_the_job_is_redelivered_then_the_fan_in_happens(
    billing: Billing, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a worker that dies right after storing the last invoice, before it fans the payouts out
    standard_world(billing.inputs)
    original = BillingService._fan_in_invoices
    crashes: list[int] = []

    def crash_once(self: BillingService, run: Any) -> Any:
        if not crashes and self._store.counts(run.period).invoices == run.expected_invoices:
            crashes.append(1)
            raise RuntimeError("worker killed between its transaction and the fan-in")
        return original(self, run)

    monkeypatch.setattr(BillingService, "_fan_in_invoices", crash_once)
    billing.close()
    # When the queue is drained (the crashed job becomes visible again and is redelivered)
    delivery = billing.invoices()
    billing.payouts()
    # Then the redelivery found its invoice stored, did not count it again, and fanned the payouts out
    assert crashes == [1] and delivery.failures == 1
    assert_exactly_once(billing)


def test_given_a_payout_worker_that_crashes_after_its_commit_when_redelivered_then_the_run_completes_once(
    billing: Billing, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a payout worker that dies after storing the last payout, before completing the run
    standard_world(billing.inputs)
    original = BillingService._complete_if_done
    crashes: list[int] = []

    def crash_once(self: BillingService, run: Any) -> bool:
        if not crashes and run.expected_payouts and self._store.counts(run.period).payouts == run.expected_payouts:
            crashes.append(1)
            raise RuntimeError("worker killed before completing the run")
        return original(self, run)

    monkeypatch.setattr(BillingService, "_complete_if_done", crash_once)
    billing.close()
    billing.invoices()
    # When the payout queue is drained, the crashed job redelivered
    delivery = billing.payouts()
    # Then the run completed, the period closed, and no payout is doubled
    assert crashes == [1] and delivery.failures == 1
    assert_exactly_once(billing)


def test_given_a_payout_job_delivered_twice_when_both_are_processed_then_one_payout(billing: Billing) -> None:
    # Given every payout job duplicated
    standard_world(billing.inputs)
    billing.close()
    billing.invoices()
    messages = drain(billing.stack["PayoutJobsQueue"])
    sqs = boto3.client("sqs", region_name=REGION)
    url = sqs.get_queue_url(QueueName=billing.stack["PayoutJobsQueue"].rsplit("/", 1)[-1])["QueueUrl"]
    for message in messages + messages:
        sqs.send_message(QueueUrl=url, MessageBody=message["Body"])
    # When all are processed
    billing.payouts()
    # Then one payout per provider
    assert_exactly_once(billing)


def test_given_a_poison_invoice_job_when_it_fails_every_delivery_then_it_lands_in_the_dlq_and_the_run_reports_it(
    billing: Billing,
) -> None:
    # Given buyer_2's inputs are broken (every attempt raises)
    standard_world(billing.inputs)
    billing.inputs.poison.add("buyer_2")
    billing.close()
    # When the queue is drained (5 deliveries, then the redrive policy moves it)
    billing.invoices()
    # Then the rest of the batch committed, the poison job is in the DLQ and the run says so
    assert {i.buyer_id for i in billing.invoice_items()} == {"buyer_1", "buyer_3"}
    assert len(drain(billing.stack["InvoiceJobsDeadLetterQueue"])) == 1
    report = billing.run()
    assert report.run.status == "running" and not report.run.payouts_enqueued
    assert [(f.kind, f.entity_id, f.attempts) for f in report.failed_jobs] == [("invoice", "buyer_2", 5)]
    # And once the inputs are fixed, closing again re-sends only the missing job and the run completes
    billing.inputs.poison.clear()
    again = billing.close()
    assert again["invoice_jobs_sent"] == 1
    billing.invoices()
    billing.payouts()
    assert_exactly_once(billing)


class _KilledAtTimeout(BaseException):
    """What a Lambda timeout is to the handler: it stops, no ``except Exception`` runs, nothing is recorded."""


def test_given_an_invoice_job_killed_at_its_timeout_on_every_delivery_then_every_dead_lettered_job_is_on_the_run(
    billing: Billing, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given buyer_2's invoice outlives the worker's timeout on every delivery (the whole batch is cut short)
    standard_world(billing.inputs)
    original = BillingService.process_invoice_job

    def slow(self: BillingService, **job: Any) -> Any:
        if job["buyer_id"] == "buyer_2":
            raise _KilledAtTimeout()
        return original(self, **job)

    monkeypatch.setattr(BillingService, "process_invoice_job", slow)
    handler = load_handler("InvoiceWorkerFunction")

    def lambda_runtime(event: dict[str, Any], context: Any) -> Any:
        try:
            return handler(event, context)
        except _KilledAtTimeout:
            raise RuntimeError("Task timed out after 120.00 seconds") from None  # the batch is retried whole

    billing.close()
    # When the queue drains (5 deliveries each, then the redrive policy)
    deliver(billing.stack["InvoiceJobsQueue"], lambda_runtime)
    # Then every job in the DLQ whose invoice does not exist is on the run's failed jobs, with the reason
    # (a batch-mate stored before the kill was dead-lettered with its batch, but its invoice exists)
    dead = {json.loads(m["Body"])["buyer_id"] for m in drain(billing.stack["InvoiceJobsDeadLetterQueue"])}
    invoiced = {i.buyer_id for i in billing.invoice_items()}
    assert "buyer_2" in dead and "buyer_2" not in invoiced
    report = billing.run()
    assert {f.entity_id for f in report.failed_jobs} == dead - invoiced
    assert all("timed out or crashed" in f.error and f.attempts == 5 for f in report.failed_jobs)
    # And once the job fits its timeout again, closing re-sends what is missing and the run completes
    monkeypatch.setattr(BillingService, "process_invoice_job", original)
    billing.close()
    billing.invoices()
    billing.payouts()
    assert billing.run().failed_jobs == []
    assert_exactly_once(billing)


def test_given_a_poison_payout_job_when_it_fails_every_delivery_then_the_other_payouts_commit_and_the_run_reports_it(
    billing: Billing, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given prov_b's payout cannot be computed
    standard_world(billing.inputs)
    original = BillingService.compute_payout

    def broken(self: BillingService, provider_id: str, period: Period, currency: str) -> Any:
        if provider_id == "prov_b":
            raise RuntimeError("revenue share unreadable")
        return original(self, provider_id, period, currency)

    monkeypatch.setattr(BillingService, "compute_payout", broken)
    billing.close()
    billing.invoices()
    # When the payout queue drains
    billing.payouts()
    # Then the others are paid, prov_b's job is in the DLQ, the run reports it and stays running
    assert {p.provider_id for p in billing.payout_items()} == {"prov_a", "prov_c"}
    assert len(drain(billing.stack["PayoutJobsDeadLetterQueue"])) == 1
    report = billing.run()
    assert report.run.status == "running" and billing.state() == "CLOSING"
    assert [(f.kind, f.entity_id) for f in report.failed_jobs] == [("payout", "prov_b")]
    # And after the fix, closing again re-sends the missing payout job and completes the run
    monkeypatch.setattr(BillingService, "compute_payout", original)
    assert billing.close()["payout_jobs_sent"] == 1
    billing.payouts()
    assert_exactly_once(billing)


def test_given_no_buyer_when_the_period_is_closed_then_the_run_completes_at_once(billing: Billing) -> None:
    # Given nobody subscribed or reported anything; When the schedule fires
    result = billing.close()
    # Then the run is completed immediately, with nothing to send, and the period is CLOSED
    assert result["status"] == "completed" and result["expected_invoices"] == 0
    assert billing.queued("InvoiceJobsQueue") == 0 and billing.queued("PayoutJobsQueue") == 0
    assert billing.state() == "CLOSED"


def test_given_buyers_without_any_charge_when_closed_then_their_zero_invoices_exist_and_no_payout_is_due(
    billing: Billing,
) -> None:
    # Given a buyer with only first-party segments (nothing chargeable)
    billing.inputs.party("buyer_9", "Lonely Agency")
    billing.inputs.trait("own_1", kind="first_party", population=10)
    billing.inputs.segment("seg_own", "buyer_9", "own_1")
    billing.inputs.report_segment("buyer_9", "seg_own", 1000)
    # When the period is closed
    billing.run_to_completion()
    # Then the buyer has one 0.00 invoice, no provider is paid, and the run completed
    invoices, payouts = billing.documents()
    assert invoices == {"buyer_9": "0.00"} and payouts == {}
    assert billing.run().run.status == "completed" and billing.state() == "CLOSED"


@pytest.mark.parametrize("moment", ["closing", "closed"])
def test_given_a_closing_or_closed_period_when_usage_is_written_for_it_then_it_is_refused_and_nothing_changes(
    billing: Billing, moment: str
) -> None:
    # Given October usage stored by the usage module, and the close begun (CLOSING) or completed (CLOSED)
    from audiens.domain.usage_reports import ChangeSource, UsageChange
    from audiens.ports.usage import PeriodClosedError
    from audiens.wiring import usage_repository

    repo = usage_repository()
    source = ChangeSource("buyer_3", "key_1", "api", "req-1", utc("2026-11-05T12:00:00Z"))
    repo.apply_changes("buyer_3", PERIOD, "feeds", [UsageChange(("B", "activation"), None, 100)], source)
    standard_world(billing.inputs)
    if moment == "closing":
        billing.close()
        assert billing.state() == "CLOSING"
    else:
        billing.run_to_completion()
        assert billing.state() == "CLOSED"
    # When a usage write for October arrives (a request stamped just before 00:00 on the 6th, processed after)
    late = ChangeSource("buyer_3", "key_1", "api", "req-2", utc("2026-11-05T23:59:59Z"))
    with pytest.raises(PeriodClosedError) as refused:
        repo.apply_changes("buyer_3", PERIOD, "feeds", [UsageChange(("B", "activation"), 100, 999_999)], late)
    # Then it is refused with reporting_window_closed and the stored usage is unchanged
    assert refused.value.code == "reporting_window_closed" and refused.value.written == 0
    assert repo.stored_usage("buyer_3", PERIOD, "feeds") == {("B", "activation"): 100}
    # And completing (or re-running) the close leaves the documents exactly as they were
    billing.invoices()
    billing.payouts()
    before = billing.documents()
    billing.close()
    assert billing.documents() == before and billing.state() == "CLOSED"


def test_given_an_invoice_spanning_more_providers_than_a_transaction_holds_when_stored_in_phases_then_exactly_once(
    billing: Billing, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a transaction limit of one slice, so buyer_1's invoice (three providers) is stored in phases
    import audiens.dal.billing.invoices as dal_invoices
    from audiens.dal.billing import DynamoBillingStore

    monkeypatch.setattr(dal_invoices, "MAX_SLICES_IN_TRANSACTION", 1)
    standard_world(billing.inputs)
    # And a worker that dies between storing the invoice and indexing its slices
    original = DynamoBillingStore.finish_invoice
    crashes: list[int] = []

    def crash_once(self: Any, stored: Any, slices: Any) -> None:
        if not crashes:
            crashes.append(1)
            raise RuntimeError("killed after phase 1")
        original(self, stored, slices)

    monkeypatch.setattr(DynamoBillingStore, "finish_invoice", crash_once)
    # When the close runs to completion
    billing.run_to_completion()
    # Then the redelivery finished the stored invoice from its own document, counted once
    assert crashes == [1]
    assert_exactly_once(billing)
    stored = billing.service()._store.get_invoice(invoice_id_for("buyer_1", PERIOD))
    assert stored.indexed


def test_given_the_same_inputs_when_closed_in_two_separate_stacks_then_the_documents_are_identical(
    billing: Billing,
) -> None:
    # Given a close run to completion
    standard_world(billing.inputs)
    billing.run_to_completion()
    first = billing.documents()
    # When the invoices and payouts are recomputed from the same frozen inputs
    service = billing.service()
    recomputed = {b: str(service.compute_invoice(b, PERIOD).total) for b in BUYERS}
    payouts = {p: service.compute_payout(p, PERIOD, "USD") for p in PAYEES}
    # Then they are identical to what was stored, to the cent
    assert recomputed == first[0]
    assert {p: (str(x.gross), str(x.amount), str(x.platform_fee)) for p, x in payouts.items()} == first[1]


def test_given_a_file_still_being_written_at_the_close_then_that_buyers_invoice_waits_for_its_lease(
    billing: Billing,
) -> None:
    from audiens.domain.invoicing import run_id_for
    from audiens.domain.usage_reports import ChangeSource, UsageChange
    from audiens.ports.usage import PeriodClosedError, UsageLeaseHeldError
    from audiens.wiring import usage_repository

    # Given buyer_2's usage stored, and a file of buyer_2 still being written (it holds a lease) at the close
    standard_world(billing.inputs)
    repo = usage_repository()
    source = ChangeSource("buyer_2", "key_1", "api", "req-1", utc("2026-11-05T12:00:00Z"))
    repo.apply_changes("buyer_2", PERIOD, "feeds", [UsageChange(("B", "activation"), None, 100)], source)
    guards = repo._guards
    guards.lease("buyer_2", str(PERIOD), "upl_still_running", 600)
    billing.close()
    # When buyer_2's invoice job runs, it waits for the lease (the job is retried later), nothing is invoiced
    service = billing.service()
    job = {"run_id": run_id_for(PERIOD), "period": PERIOD, "buyer_id": "buyer_2", "now": utc("2026-11-06T00:01:00Z")}
    with pytest.raises(UsageLeaseHeldError):
        service.process_invoice_job(**job)
    assert "buyer_2" not in {i.buyer_id for i in billing.invoice_items()}
    # Then once the file is written and its lease released, the job freezes buyer_2's usage and invoices it
    guards.release("buyer_2", str(PERIOD), "upl_still_running")
    assert service.process_invoice_job(**job) == "created"
    # And from then on no write of buyer_2 lands, even one that passed the API's check before the close
    late = ChangeSource("buyer_2", "key_1", "api", "req-2", utc("2026-11-05T23:59:59Z"))
    with pytest.raises(PeriodClosedError):
        repo.apply_changes("buyer_2", PERIOD, "feeds", [UsageChange(("B", "activation"), 100, 7)], late)
    assert repo.stored_usage("buyer_2", PERIOD, "feeds") == {("B", "activation"): 100}


def test_given_a_close_at_an_event_time_when_workers_run_later_then_the_run_and_its_documents_carry_that_time(
    billing: Billing,
) -> None:
    # Given the schedule's event at 00:00:07 on November 6th (the workers run now, on the wall clock,
    # and their messages carry the wall clock's SentTimestamp)
    standard_world(billing.inputs)
    fired = "2026-11-06T00:00:07Z"
    billing.run_to_completion(fired)
    # Then the run, its completion, every invoice and every payout are stamped with the event's time
    report = billing.run()
    assert report.run.created_at == report.run.completed_at == utc(fired)
    assert {i.created_at for i in billing.invoice_items()} == {utc(fired)}
    assert {p.created_at for p in billing.payout_items()} == {utc(fired)}
    assert_exactly_once(billing)


def test_a_payout_plan_larger_than_one_item_is_written_and_read_in_pages(billing: Billing) -> None:
    # Given a run, and 20,000 providers to pay: ~500 KB as one list, over DynamoDB's 400 KB item limit
    billing.service()  # the composition root binds the models to the stack's tables
    store = DynamoBillingStore(REGION)
    run = BillingRun(
        run_id="run_202610",
        period=PERIOD,
        status="running",
        currency="USD",
        trigger="schedule",
        created_at=utc(SCHEDULE_TIME),
        expected_invoices=1,
    )
    store.create_run(run, ["buyer_1"])
    providers = [f"acc_{i:020x}" for i in range(20_000)]
    assert item_size({"payout_providers": {"L": [{"S": p} for p in providers]}}) > ITEM_LIMIT
    # When the fan-in plans the payouts (the limits engine refusing any item over 400 KB)
    planned = store.plan_payouts(PERIOD, providers)
    # Then the plan is stored in pages of at most 1,000 providers and read back whole, in order
    pages = list(RunPayoutPlanItem.query(f"RUN#{PERIOD}", RunPayoutPlanItem.sk.startswith("PLAN#")))
    assert [len(p.providers) for p in pages] == [PLAN_PAGE] * 20
    assert max(item_size(p.serialize()) for p in pages) < ITEM_LIMIT // 10
    assert planned.expected_payouts == 20_000 and planned.payout_providers == tuple(providers)
    # And a second fan-in cannot change it
    again = store.plan_payouts(PERIOD, providers[:3])
    assert again.payout_providers == tuple(providers) and again.expected_payouts == 20_000


def test_given_a_usage_transaction_holding_the_close_state_when_the_month_closes_then_the_close_waits_it_out(
    billing: Billing,
) -> None:
    # Given a usage transaction (which checks the period's close state) holds the state item twice in a row
    # as the close begins: DynamoDB refuses the close's write (TransactionConflictException, not retried by
    # the SDK)
    standard_world(billing.inputs)
    engine = Limits(fault_rate=0)
    engine.learn_tables(boto3.client("dynamodb", region_name=REGION))
    previous = dynamodb_limits.use(engine)
    try:
        for _ in range(2):
            engine.inject("TransactionConflict", "PutItem", where="STATE")
        # When the schedule closes the month
        result = billing.close()
    finally:
        dynamodb_limits.use(previous)
    # Then the close retried its write and went on: the period is closing and every invoice job is queued
    assert engine.pending_injections() == 0
    assert billing.state() == "CLOSING"
    assert result["invoice_jobs_sent"] == 3
    billing.invoices()
    billing.payouts()
    assert_exactly_once(billing)
