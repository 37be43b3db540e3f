"""The whole monthly close on moto: 1,000 buyers x 100 segment usages, 50 providers (issue 5's target).

Everything AWS would run is run in-process on moto (``mock_aws``), with the resources created from
template.yaml: the schedule's event goes to CloseReportingWindowFunction, which fans out one invoice job per
buyer; InvoiceWorkerFunction drains its queue in batches of 10 (like the Lambda event source mapping:
ReceiveMessage of 10, partial failures, DeleteMessageBatch), the last invoice fans out one payout job per
provider, PayoutWorkerFunction drains those, and the last payout completes the run. The close's inputs
come from the in-memory ``BillingInputs`` fake (no DynamoDB reads), so the DynamoDB figures are billing's own.

Reported: time from the close to ``completed``, SendMessageBatch calls (target: 1,000 invoice jobs in <= 100),
DynamoDB calls per invoice, and whether the run completed within 120 s (target).

moto's TransactWriteItems deep-copies the whole table once per item of every transaction, and its Query
sorts the whole table to find one partition: costs real DynamoDB does not have, growing with the table.
The bench removes both with local_runtime/moto_patches.fast_moto (same semantics; the functional tests pass with
it). ``--plain-moto`` keeps moto as it is, to measure that artefact at a smaller scale.

Run: python bench/bench_close.py [buyers] [usages_per_buyer] [providers] [--plain-moto]
"""

from __future__ import annotations

import os
import random
import sys
import time
from collections import Counter
from contextlib import nullcontext
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for extra in (ROOT, ROOT / "layers" / "common", ROOT / "infra"):
    sys.path.insert(0, str(extra))

os.environ.update(
    AWS_ACCESS_KEY_ID="testing",
    AWS_SECRET_ACCESS_KEY="testing",
    AWS_DEFAULT_REGION="us-east-1",
    AWS_REGION="us-east-1",
    POWERTOOLS_TRACE_DISABLED="true",
    POWERTOOLS_LOG_LEVEL="ERROR",
    POWERTOOLS_METRICS_NAMESPACE="Audiens",
)
os.environ.pop("AWS_ENDPOINT_URL", None)

import boto3  # noqa: E402
from botocore.client import BaseClient  # noqa: E402
from moto import mock_aws  # noqa: E402
from tests.support.aws import REGION, create_stack, queue_url  # noqa: E402
from tests.support.billing import FakeBillingInputs, schedule_event, sqs_event  # noqa: E402
from tests.support.lambda_api import FakeContext, deploy, load_handler  # noqa: E402

from local_runtime.moto_patches import fast_moto  # noqa: E402

BUYERS, USAGES, PROVIDERS = 1000, 100, 50
FEEDS_PER_PROVIDER, TRAITS_PER_FEED, FEEDS_PER_BUYER = 2, 5, 12
TARGET_SECONDS = 120.0
TARGET_SEND_CALLS = 100

CALLS: Counter[tuple[str, str]] = Counter()
SECONDS: Counter[tuple[str, str]] = Counter()
_original = BaseClient._make_api_call


def _counting(self: BaseClient, operation: str, params: dict[str, Any]) -> Any:
    key = (self.meta.service_model.service_name, operation)
    CALLS[key] += 1
    started = time.perf_counter()
    try:
        return _original(self, operation, params)
    finally:
        SECONDS[key] += time.perf_counter() - started


def build_world(buyers: int, usages: int, providers: int, seed: int = 7) -> FakeBillingInputs:
    rng = random.Random(seed)
    world = FakeBillingInputs()
    feeds: list[tuple[str, str]] = []
    for p in range(providers):
        provider = world.party(f"prov_{p:03d}", f"Provider {p}", str(Decimal(rng.randint(60, 90)) / 100))
        for f in range(FEEDS_PER_PROVIDER):
            feed = f"feed_{p:03d}_{f}"
            feeds.append((feed, provider))
            for t in range(TRAITS_PER_FEED):
                world.trait(f"trt_{feed}_{t}", feed=feed, population=rng.randint(1_000, 5_000_000))
    for b in range(buyers):
        buyer = world.party(f"buyer_{b:04d}", f"Agency {b}")
        mine = rng.sample(feeds, FEEDS_PER_BUYER)
        for feed, provider in mine:
            world.subscribe(
                buyer, feed, provider, use_cases=("activation", "modeling"), price=f"{rng.randint(50, 400) / 100}"
            )
        model = f"alg_{buyer}"
        world.trait(model, modeled_on=tuple(f for f, _ in rng.sample(mine, 2)), population=rng.randint(1_000, 900_000))
        traits = [f"trt_{feed}_{rng.randrange(TRAITS_PER_FEED)}" for feed, _ in mine] + [model]
        for s in range(usages):
            a, b2, c, d = rng.sample(traits, 4)
            rule = rng.choice([f"{a} OR {b2} OR {c}", f"{a} AND ({b2} OR {c})", f"({a} OR {b2}) AND NOT {c} OR {d}"])
            segment = f"seg_{buyer}_{s:03d}"
            world.segment(segment, buyer, rule)
            world.report_segment(
                buyer, segment, rng.randint(0, 5_000_000), destination_id=f"dst_{s % 3}", channel_id=f"chan_{s % 3}"
            )
        if b % 10 == 0:
            feed, provider = rng.choice(feeds)
            world.subscribe(
                buyer, feed, provider, use_cases=("segments_and_overlap",), unit="flat_fee", price="1500.00"
            )
    return world


def drain(queue: str, handler: Any, batch_log: list[int]) -> int:
    """Like the event source mapping: receive 10, invoke, delete what succeeded, retry the rest."""
    sqs = boto3.client("sqs", region_name=REGION)
    url = queue_url(queue)
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    processed = 0
    while True:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"]).get("Messages", [])
        if not got:
            return processed
        result = handler(sqs_event(got, arn), FakeContext())
        failed = {f["itemIdentifier"] for f in result.get("batchItemFailures", [])}
        done = [m for m in got if m["MessageId"] not in failed]
        if done:
            sqs.delete_message_batch(
                QueueUrl=url, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)]
            )
        for m in got:
            if m["MessageId"] in failed:
                sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=0)
        processed += len(done)
        batch_log.append(len(got))


def main() -> None:
    fast = "--plain-moto" not in sys.argv
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    buyers = int(args[0]) if len(args) > 0 else BUYERS
    usages = int(args[1]) if len(args) > 1 else USAGES
    providers = int(args[2]) if len(args) > 2 else PROVIDERS
    started = time.perf_counter()
    world = build_world(buyers, usages, providers)
    built = time.perf_counter() - started
    with mock_aws(), fast_moto() if fast else nullcontext():
        physical = create_stack()
        deploy(physical, {"Stage": "bench"})
        os.environ["POWERTOOLS_LOG_LEVEL"] = "ERROR"  # a thousand INFO lines would measure the terminal
        from audiens import wiring

        wiring.billing_inputs = lambda: world  # type: ignore[assignment]
        close = load_handler("CloseReportingWindowFunction")
        invoice_worker = load_handler("InvoiceWorkerFunction")
        payout_worker = load_handler("PayoutWorkerFunction")

        BaseClient._make_api_call = _counting  # type: ignore[method-assign]
        t0 = time.perf_counter()
        summary = close(schedule_event(), FakeContext())
        t_close = time.perf_counter()
        close_calls = Counter(CALLS)
        invoice_batches: list[int] = []
        invoices = drain(physical["InvoiceJobsQueue"], invoice_worker, invoice_batches)
        t_invoices = time.perf_counter()
        invoice_calls = Counter(CALLS) - close_calls
        payout_batches: list[int] = []
        payouts = drain(physical["PayoutJobsQueue"], payout_worker, payout_batches)
        t_done = time.perf_counter()
        payout_calls = Counter(CALLS) - close_calls - invoice_calls
        BaseClient._make_api_call = _original  # type: ignore[method-assign]

        report = wiring.billing_service().run_report(summary_period(summary))
        invoiced, paid, fees = wiring.billing_service().period_totals(report.run.period)

    def dynamo(calls: Counter[tuple[str, str]]) -> int:
        return sum(n for (service, _), n in calls.items() if service == "dynamodb")

    def ops(calls: Counter[tuple[str, str]], service: str) -> str:
        return ", ".join(f"{op} {n}" for (svc, op), n in sorted(calls.items()) if svc == service)

    elapsed = t_done - t0
    send_calls = close_calls[("sqs", "SendMessageBatch")]
    jobs = summary["invoice_jobs_sent"]
    invoice_time = max(t_invoices - t_close, 1e-9)
    balanced = "balanced" if invoiced == paid + fees else "UNBALANCED"
    time_ok = "OK" if elapsed <= TARGET_SECONDS else "MISSED"
    send_ok = "OK" if send_calls <= TARGET_SEND_CALLS else "MISSED"
    expected = f"expected {report.run.expected_invoices} / {report.run.expected_payouts}"
    rows = [
        ("world", f"{buyers} buyers x {usages} segment usages, {providers} providers, built in {built:.1f} s"),
        ("moto", "per-item transaction backup, partition queries (local_runtime/moto_patches.py)" if fast else "plain"),
        ("run status", f"{report.run.status} (period {report.run.period}, state {report.period_state})"),
        ("invoices / payouts", f"{invoices} / {payouts} ({expected})"),
        ("close handler", f"{t_close - t0:6.2f} s  (SendMessageBatch {send_calls} for {jobs} jobs)"),
        ("invoice workers", f"{t_invoices - t_close:6.2f} s  ({len(invoice_batches)} batches of <= 10)"),
        ("payout workers", f"{t_done - t_invoices:6.2f} s  ({len(payout_batches)} batches)"),
        ("close -> completed", f"{elapsed:6.2f} s  (target <= {TARGET_SECONDS:.0f} s: {time_ok})"),
        ("invoice jobs enqueued", f"{send_calls} SendMessageBatch calls (target <= {TARGET_SEND_CALLS}: {send_ok})"),
        (
            "DynamoDB calls / invoice",
            f"{dynamo(invoice_calls) / max(invoices, 1):.2f}  ({ops(invoice_calls, 'dynamodb')})",
        ),
        ("DynamoDB calls / payout", f"{dynamo(payout_calls) / max(payouts, 1):.2f}  ({ops(payout_calls, 'dynamodb')})"),
        ("DynamoDB calls, close", f"{dynamo(close_calls)}  ({ops(close_calls, 'dynamodb')})"),
        ("SQS calls, invoice phase", ops(invoice_calls, "sqs")),
        ("books", f"invoiced {invoiced} = paid {paid} + fees {fees}: {balanced}"),
        ("time in AWS calls", ", ".join(f"{op} {SECONDS[(svc, op)]:.1f} s" for (svc, op) in sorted(SECONDS))),
        (
            "throughput",
            f"{invoices / invoice_time:.0f} invoices/s, {invoices * usages / invoice_time:,.0f} usage rows/s",
        ),
    ]
    width = max(len(k) for k, _ in rows)
    print(f"{'figure':<{width}}  value")
    print(f"{'-' * width}  {'-' * 60}")
    for key, value in rows:
        print(f"{key:<{width}}  {value}")
    if report.run.status != "completed" or invoiced != paid + fees:
        sys.exit(1)


def summary_period(summary: dict[str, Any]) -> Any:
    from audiens.domain.periods import Period

    return Period.parse(summary["period"])


if __name__ == "__main__":
    main()
