"""The daily job as AWS runs it: the schedule fans pages out, DailySegmentsFunction drains them."""

from __future__ import annotations

import os
from typing import Any

import boto3

from tests.support.aws import REGION
from tests.support.billing import sqs_event
from tests.support.lambda_api import FakeContext, load_handler


def run_daily(time: str) -> dict[str, Any]:
    """Run the schedule at ``time`` and drain its pages; the schedule's result with the pages' counts added."""
    result: dict[str, Any] = dict(
        load_handler("DailyMaintenanceFunction")({"time": time, "schedule": "daily-maintenance"}, FakeContext())
    )
    worker = load_handler("DailySegmentsFunction")
    sqs = boto3.client("sqs", region_name=REGION)
    url = os.environ["DAILY_SEGMENTS_QUEUE_URL"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    result["segment_snapshots"] = result["expired_segments"] = 0
    while got := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1, AttributeNames=["All"]).get("Messages"):
        out = worker(sqs_event(got, arn), FakeContext(function_name="daily-segments"))
        assert not out["batchItemFailures"], out
        result["segment_snapshots"] += out["segment_snapshots"]
        result["expired_segments"] += out["expired_segments"]
        sqs.delete_message(QueueUrl=url, ReceiptHandle=got[0]["ReceiptHandle"])
    return result
