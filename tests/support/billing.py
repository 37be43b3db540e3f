"""Billing test support: an in-memory ``BillingInputs`` and an SQS → Lambda poller like the event source mapping.

The fake is what the close is built and tested against (the production adapter reads the other modules'
tables); the poller receives up to 10 messages, invokes the handler with a real SQS event, deletes what
succeeded and makes the reported failures visible again at once (so retries and the DLQ redrive happen in
a test's time, with moto counting receives exactly like SQS).
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import boto3

from audiens.domain.attribution import TraitInfo
from audiens.domain.invoicing import FeedUsage, Party, SegmentInfo, SegmentUsage, Subscription, Unit
from audiens.domain.periods import Period
from audiens.domain.rules import Node, Trait, to_text
from tests.support.aws import REGION, queue_url
from tests.support.lambda_api import FakeContext

SCHEDULE_TIME = "2026-11-06T00:00:00Z"
PERIOD = Period(2026, 10)


class PoisonError(RuntimeError):
    """Raised by the fake for buyers marked as poison: their invoice job can never succeed."""


@dataclass
class FakeBillingInputs:
    """Everything the close reads, in dictionaries; ``calls`` counts reads (the bench reports them)."""

    accounts: dict[str, Party] = field(default_factory=dict)
    subscriptions_by_buyer: dict[str, list[Subscription]] = field(default_factory=lambda: defaultdict(list))
    segment_rows: dict[tuple[str, str], list[SegmentUsage]] = field(default_factory=lambda: defaultdict(list))
    feed_rows: dict[tuple[str, str], list[FeedUsage]] = field(default_factory=lambda: defaultdict(list))
    segment_infos: dict[str, SegmentInfo] = field(default_factory=dict)
    trait_infos: dict[str, TraitInfo] = field(default_factory=dict)
    populations: dict[str, int] = field(default_factory=dict)
    extra_buyers: set[tuple[str, str]] = field(default_factory=set)
    poison: set[str] = field(default_factory=set)
    calls: Counter[str] = field(default_factory=Counter)

    # ------------------------------------------------------------------------------ building the world
    def party(self, account_id: str, name: str | None = None, share: str = "0.80") -> str:
        self.accounts[account_id] = Party(account_id, name or account_id, Decimal(share))
        return account_id

    def subscribe(
        self,
        buyer_id: str,
        feed_id: str,
        provider_id: str,
        *,
        use_cases: Iterable[str] = ("activation",),
        unit: Unit = "cpm",
        price: str = "2.00",
        discount_pct: str = "0",
        start: date = date(2026, 1, 1),
        end: date | None = None,
        plan_id: str | None = None,
        feed_name: str | None = None,
    ) -> Subscription:
        uses = tuple(use_cases)
        plan = plan_id or f"pln_{feed_id}_{unit}_{'_'.join(uses)}"
        sub = Subscription(
            subscription_id=f"sub_{buyer_id}_{plan}_{len(self.subscriptions_by_buyer[buyer_id])}",
            feed_id=feed_id,
            feed_name=feed_name or f"Feed {feed_id}",
            provider_id=provider_id,
            plan_id=plan,
            use_cases=uses,
            unit=unit,
            list_price=Decimal(price),
            discount_pct=Decimal(discount_pct),
            start_date=start,
            end_date=end,
        )
        self.subscriptions_by_buyer[buyer_id].append(sub)
        return sub

    def trait(self, trait_id: str, *, feed: str | None = None, population: int = 1000, **info: Any) -> None:
        kind = info.pop("kind", "rule" if feed or not info.get("modeled_on") else "algorithmic")
        modeled = tuple(info.pop("modeled_on", ()))
        if modeled:
            kind = "algorithmic"
        self.trait_infos[trait_id] = TraitInfo(kind=kind, feed_id=feed, modeled_on_feed_ids=modeled)
        self.populations[trait_id] = population

    def segment(
        self,
        segment_id: str,
        owner_id: str,
        rule: str,
        *,
        visibility: str = "private",
        cpm: str | None = None,
        name: str | None = None,
    ) -> None:
        self.segment_infos[segment_id] = SegmentInfo(
            segment_id=segment_id,
            name=name or f"Segment {segment_id}",
            rule=rule,
            owner_id=owner_id,
            visibility="public" if visibility == "public" else "private",
            cpm=Decimal(cpm) if cpm is not None else None,
        )

    def report_segment(
        self,
        buyer_id: str,
        segment_id: str,
        impressions: int,
        *,
        destination_id: str = "dst_1",
        channel_id: str = "chan_dsp",
        content_optimization: bool = False,
        period: Period = PERIOD,
        channel_name: str | None = None,
    ) -> None:
        self.segment_rows[(buyer_id, str(period))].append(
            SegmentUsage(segment_id, destination_id, impressions, channel_id, content_optimization, channel_name)
        )

    def report_feed(
        self, buyer_id: str, feed_id: str, use_case: str, impressions: int, period: Period = PERIOD
    ) -> None:
        self.feed_rows[(buyer_id, str(period))].append(FeedUsage(feed_id, use_case, impressions))

    # ----------------------------------------------------------------------------------- the port
    def buyers_for_period(self, period: Period) -> list[str]:
        self.calls["buyers_for_period"] += 1
        buyers = {b for b, subs in self.subscriptions_by_buyer.items() if any(s.active_in(period) for s in subs)}
        buyers |= {b for (b, p), rows in self.segment_rows.items() if p == str(period) and rows}
        buyers |= {b for (b, p), rows in self.feed_rows.items() if p == str(period) and rows}
        buyers |= {b for (b, p) in self.extra_buyers if p == str(period)}
        return sorted(buyers)

    def subscriptions(self, buyer_id: str, period: Period) -> list[Subscription]:
        self.calls["subscriptions"] += 1
        return [s for s in self.subscriptions_by_buyer.get(buyer_id, []) if s.active_in(period)]

    def segment_usage(self, buyer_id: str, period: Period) -> list[SegmentUsage]:
        self.calls["segment_usage"] += 1
        if buyer_id in self.poison:
            raise PoisonError(f"inputs of {buyer_id} are broken")
        return list(self.segment_rows.get((buyer_id, str(period)), []))

    def feed_usage(self, buyer_id: str, period: Period) -> list[FeedUsage]:
        self.calls["feed_usage"] += 1
        return list(self.feed_rows.get((buyer_id, str(period)), []))

    def segments(self, segment_ids: Collection[str]) -> dict[str, SegmentInfo]:
        self.calls["segments"] += 1
        return {s: self.segment_infos[s] for s in segment_ids if s in self.segment_infos}

    def traits(self, trait_ids: Collection[str]) -> dict[str, TraitInfo]:
        self.calls["traits"] += 1
        return {t: self.trait_infos[t] for t in trait_ids if t in self.trait_infos}

    def population_of(self, node: Node) -> int:
        if isinstance(node, Trait):
            return self.populations.get(node.id, 0)
        return self.populations.get(to_text(node), 1000)

    def population_in(self, rule: Node) -> Callable[[Node], int]:
        return self.population_of

    def parties(self, account_ids: Collection[str]) -> dict[str, Party]:
        self.calls["parties"] += 1
        return {a: self.accounts[a] for a in account_ids if a in self.accounts}


# ------------------------------------------------------------------------------------------ SQS driver


def sqs_event(messages: list[dict[str, Any]], queue_arn: str) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": {
                    "ApproximateReceiveCount": m["Attributes"]["ApproximateReceiveCount"],
                    "SentTimestamp": m["Attributes"]["SentTimestamp"],
                    "SenderId": m["Attributes"].get("SenderId", "AIDATEST"),
                    "ApproximateFirstReceiveTimestamp": m["Attributes"].get("ApproximateFirstReceiveTimestamp", "0"),
                },
                "messageAttributes": {},
                "md5OfBody": m["MD5OfBody"],
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": REGION,
            }
            for m in messages
        ]
    }


@dataclass
class Delivery:
    batches: int = 0
    messages: int = 0
    failures: int = 0


def deliver(queue: str, handler: Callable[[dict[str, Any], Any], Any], *, max_batches: int = 10_000) -> Delivery:
    """Poll ``queue`` until it is empty, like the Lambda event source mapping (batch of 10, partial failures)."""
    sqs = boto3.client("sqs", region_name=REGION)
    url = queue_url(queue)
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    stats = Delivery()
    while stats.batches < max_batches:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"]).get("Messages", [])
        if not got:
            break
        stats.batches += 1
        stats.messages += len(got)
        try:
            result = handler(sqs_event(got, arn), FakeContext())
            failed = {f["itemIdentifier"] for f in (result or {}).get("batchItemFailures", [])}
        except Exception:  # the whole invocation failed: Lambda retries every message of the batch
            failed = {m["MessageId"] for m in got}
        stats.failures += len(failed)
        for message in got:
            if message["MessageId"] in failed:
                sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0)
            else:
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return stats


def schedule_event(time: str = SCHEDULE_TIME) -> dict[str, Any]:
    return {"time": time, "schedule": "monthly-close"}


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def bodies(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [json.loads(m["Body"]) for m in messages]
