"""The monthly close driven like AWS would: schedule → close handler → invoice queue → payout queue.

``Billing`` wires the fake ``BillingInputs`` into the real handlers (through ``audiens.wiring``) and drains
the job queues with the Lambda-like poller of ``tests.support.billing``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import boto3

from audiens.dal.billing_models import InvoiceItem, PayoutItem
from audiens.dal.period_models import PeriodStateItem
from audiens.domain.periods import Period
from tests.support.aws import REGION, queue_url
from tests.support.billing import PERIOD, SCHEDULE_TIME, Delivery, FakeBillingInputs, deliver, schedule_event
from tests.support.lambda_api import FakeContext, load_handler


@dataclass
class Billing:
    stack: dict[str, str]
    inputs: FakeBillingInputs

    def close(self, time: str = SCHEDULE_TIME) -> dict[str, Any]:
        result: dict[str, Any] = load_handler("CloseReportingWindowFunction")(schedule_event(time), FakeContext())
        return result

    def invoices(self) -> Delivery:
        return deliver(self.stack["InvoiceJobsQueue"], load_handler("InvoiceWorkerFunction"))

    def payouts(self) -> Delivery:
        return deliver(self.stack["PayoutJobsQueue"], load_handler("PayoutWorkerFunction"))

    def run_to_completion(self, time: str = SCHEDULE_TIME) -> dict[str, Any]:
        closed = self.close(time)
        self.invoices()
        self.payouts()
        return closed

    def service(self) -> Any:
        from audiens.wiring import billing_service

        return billing_service()

    def run(self, period: Period = PERIOD) -> Any:
        return self.service().run_report(period)

    def state(self, period: Period = PERIOD) -> str:
        try:
            return str(PeriodStateItem.get(*PeriodStateItem.key(str(period)), consistent_read=True).state)
        except PeriodStateItem.DoesNotExist:
            return "OPEN"

    def queued(self, logical_id: str) -> int:
        sqs = boto3.client("sqs", region_name=REGION)
        attrs = sqs.get_queue_attributes(
            QueueUrl=queue_url(self.stack[logical_id]),
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"])

    def invoice_items(self, period: Period = PERIOD) -> list[InvoiceItem]:
        return [i for i in InvoiceItem.scan() if i.period == str(period) and i.sk == "INVOICE"]

    def payout_items(self, period: Period = PERIOD) -> list[PayoutItem]:
        return [p for p in PayoutItem.scan() if p.period == str(period) and p.sk == "PAYOUT"]

    def documents(self, period: Period = PERIOD) -> tuple[dict[str, str], dict[str, tuple[str, str, str]]]:
        """Every invoice total by buyer and every payout (gross, amount, fee) by provider: the books."""
        invoices = {i.buyer_id: i.total for i in self.invoice_items(period)}
        payouts = {p.provider_id: (p.gross, p.amount, p.platform_fee) for p in self.payout_items(period)}
        return invoices, payouts

    def assert_books_balance(self, period: Period = PERIOD) -> None:
        invoices, payouts = self.documents(period)
        invoiced = sum((Decimal(t) for t in invoices.values()), Decimal(0))
        paid = sum((Decimal(a) for _, a, _ in payouts.values()), Decimal(0))
        fees = sum((Decimal(f) for _, _, f in payouts.values()), Decimal(0))
        gross = sum((Decimal(g) for g, _, _ in payouts.values()), Decimal(0))
        assert invoiced == paid + fees == gross, (invoiced, paid, fees)


def standard_world(inputs: FakeBillingInputs) -> FakeBillingInputs:
    """Three buyers, three providers: attribution (AND/OR/modeling), feed-level usage, a flat fee, a discount,
    a public provider segment, content optimization and a buyer with a CPM plan who reported nothing."""
    f = inputs
    for pid, name, share in (("prov_a", "Data Provider A", "0.80"), ("prov_b", "Data Provider B", "0.75")):
        f.party(pid, name, share)
    f.party("prov_c", "=Evil Data", "0.70")
    for bid in ("buyer_1", "buyer_2", "buyer_3"):
        f.party(bid, f"Agency {bid[-1]}")
    # feeds: A (prov_a), B (prov_b), C (prov_c)
    f.trait("A1", feed="A", population=200_000)
    f.trait("A3", feed="A", population=400_000)
    f.trait("B2", feed="B", population=900_000)
    f.trait("C1", feed="C", population=150_000)
    f.trait("T2", modeled_on=("A", "B"), population=600_000)
    f.trait("own_1", kind="first_party", population=50_000)
    # buyer_1: CPM on A (activation+modeling, 10 % discount), B activation, C activation; segments on them
    f.subscribe("buyer_1", "A", "prov_a", use_cases=("activation", "modeling"), price="2.00", discount_pct="10")
    f.subscribe("buyer_1", "B", "prov_b", price="4.00", start=date(2026, 10, 17))
    f.subscribe("buyer_1", "B", "prov_b", use_cases=("modeling",), price="1.00", plan_id="pln_B_model")
    f.subscribe("buyer_1", "C", "prov_c", price="6.00", feed_name="@Feed C")
    f.segment("seg_or", "buyer_1", "A3 OR B2 OR C1")
    f.segment("seg_model", "buyer_1", "A1 OR T2")
    f.segment("seg_and", "buyer_1", "A1 AND NOT own_1")
    f.report_segment("buyer_1", "seg_or", 1_000_000, destination_id="dst_dsp", channel_id="chan_dsp", channel_name="D")
    f.report_segment("buyer_1", "seg_or", 333_333, destination_id="dst_net", channel_id="chan_net", channel_name="Net")
    f.report_segment("buyer_1", "seg_model", 1_000_000, destination_id="dst_dsp", channel_id="chan_dsp")
    f.report_segment("buyer_1", "seg_and", 55, destination_id="dst_co", channel_id="chan_co", content_optimization=True)
    f.report_feed("buyer_1", "C", "activation", 12_345)
    # buyer_2: flat fee on A from the 17th, CPM on B it never reports, a public segment of prov_c at its CPM
    f.subscribe(
        "buyer_2",
        "A",
        "prov_a",
        use_cases=("segments_and_overlap", "activation"),
        unit="flat_fee",
        price="1500.00",
        start=date(2026, 10, 17),
    )
    f.subscribe("buyer_2", "B", "prov_b", price="4.00")
    f.segment("seg_pub", "prov_c", "C1", visibility="public", cpm="0.35", name="=cmd|' /C calc'!A0")
    f.report_segment("buyer_2", "seg_pub", 1500, destination_id="dst_x", channel_id="chan_x")
    # buyer_3: only feed-level usage on B, no channel detail
    f.subscribe("buyer_3", "B", "prov_b", price="4.00")
    f.report_feed("buyer_3", "B", "activation", 1_234_567)
    return f
