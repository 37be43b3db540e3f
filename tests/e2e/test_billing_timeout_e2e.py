"""An invoice job slower than its function's Timeout, on the local runtime: killed, retried, and recorded on
the run's ``failed_jobs`` on its last delivery (it cannot record anything once killed: the record is made
before the batch runs, ``record_last_deliveries``), then dead-lettered.

The close reads the usage table itself (it freezes every buyer's usage), so the slowness is one the close
absorbs and the job cannot: DynamoDB's answers on the usage table are delayed (the limits engine's
per-table latency, a test hook) and the invoice worker's Timeout is shortened to 3 s; a job then needs
more than 12 s of usage reads (one query per shard) and is killed at its deadline, as Lambda does.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import pytest

from demo_billing import CLOSE_TIME, PERIOD, mini_marketplace
from local_client import Client
from tests.e2e.conftest import OPERATOR_KEY
from tests.support.limits import engine_for

MAX_RECEIVES = 2
TIMEOUT_S = 3
SLOW_USAGE_S = 0.75  # per usage-table request: 16 shard queries take 12 s, four times the job's Timeout


@pytest.fixture(scope="module")
def slow_runtime(request: pytest.FixtureRequest) -> Iterator[Any]:
    from local_runtime import LocalRuntime

    engine = engine_for(request.node.nodeid)
    if engine is None:
        pytest.skip("the slow table is the DynamoDB limits engine's hook (AUDIENS_DYNAMODB_LIMITS=real)")
    with LocalRuntime(
        template="template.yaml",
        api_port=0,
        aws_port=0,
        clock="2026-11-03T10:00:00Z",
        parameters={
            "OperatorKeyHash": hashlib.sha256(OPERATOR_KEY.encode()).hexdigest(),
            "BillingJobMaxReceiveCount": str(MAX_RECEIVES),
        },
        function_timeouts={"InvoiceWorkerFunction": TIMEOUT_S},
        dynamodb_limits=engine,
    ) as rt:
        yield rt


def _queued(rt: Any, logical_id: str) -> int:
    attrs = rt.client("sqs").get_queue_attributes(
        QueueUrl=rt.resource(logical_id),
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"])


def test_given_an_invoice_job_slower_than_its_timeout_when_the_month_closes_then_it_is_killed_retried_and_reported(
    slow_runtime: Any,
) -> None:
    rt = slow_runtime
    api = Client(rt.api_url)
    # Given two buyers with October usage (real inputs, over HTTP)
    cast = mini_marketplace(api, OPERATOR_KEY)
    buyers = {api.get("/v1/me", key=key).body["account_id"] for key in cast.buyers.values()}
    # When every usage read takes 0.75 s (the close, 300 s, absorbs it) and the schedule closes the month
    usage_table = rt.resource("UsageTable")
    rt.limits.latency[usage_table] = SLOW_USAGE_S
    try:
        api.post("/_local/clock", {"now": CLOSE_TIME, "wait": False}, expect=(200,))
        rt.wait_idle(timeout=240)
    finally:
        rt.limits.latency.pop(usage_table, None)
    # Then every invoice job was killed at its 3 s Timeout on each of its 2 deliveries (not run to its end),
    # recorded on the run before its last delivery ran, and dead-lettered; nothing was invoiced
    run = api.get(f"/v1/admin/billing-runs/{PERIOD}", key=OPERATOR_KEY).body
    failed = {job["id"]: job for job in run["failed_jobs"]}
    assert set(failed) == buyers
    for job in failed.values():
        assert (job["kind"], job["attempts"]) == ("invoice", MAX_RECEIVES)
        assert job["error"] == "its last delivery did not finish: the worker timed out or crashed"
    assert (run["status"], run["invoices"], run["payouts"]) == ("running", 0, 0)
    assert _queued(rt, "InvoiceJobsDeadLetterQueue") == len(buyers)
