"""The trigger adapters (audiens.triggers): one parser per kind of event, fed the sample events of events/."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from pydantic import ValidationError as ModelValidationError

from audiens.domain.periods import Period
from audiens.errors import ValidationError
from audiens.ports.jobs import EmailJob, InvoiceJob, PayoutJob, PushJob
from audiens.services.channels import backoff_seconds
from audiens.triggers import delivery, event_time, object_created, schedule_event

EVENTS = Path(__file__).resolve().parents[2] / "events"


def sample(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EVENTS / name).read_text(encoding="utf-8"))
    return data


def record(name: str) -> SQSRecord:
    return SQSRecord(sample(name)["Records"][0])


@pytest.mark.parametrize(
    ("name", "bucket", "key"),
    [
        ("s3_usage_object_created.json", "audiens-usage-test", "acc_example/2026-10/segments/october report.csv"),
        (
            "s3_source_object_created.json",
            "audiens-sources-test",
            "acc_example/src_example/day=2026-11-03/events 1.ndjson",
        ),
    ],
)
def test_given_an_s3_object_created_event_when_parsed_then_the_decoded_key_and_the_event_time(
    name: str, bucket: str, key: str
) -> None:
    created = object_created(sample(name))
    assert created is not None
    assert (created.bucket, created.key, created.size) == (bucket, key, 120)
    assert created.etag == "d41d8cd98f00b204e9800998ecf8427e"
    assert created.time == datetime(2026, 11, 3, 10, 5, tzinfo=UTC)


def test_given_another_event_when_parsed_as_object_created_then_none() -> None:
    assert object_created(sample("schedule_daily.json")) is None
    assert object_created({**sample("s3_usage_object_created.json"), "detail-type": "Object Deleted"}) is None


def test_given_moto_epoch_seconds_or_a_bad_time_when_read_then_utc_or_invalid_timestamp() -> None:
    assert event_time({"time": 1_793_700_000}) == datetime.fromtimestamp(1_793_700_000, tz=UTC)
    with pytest.raises(ValidationError):
        event_time({"time": "yesterday"})


@pytest.mark.parametrize(
    ("name", "time", "schedule"),
    [
        ("schedule_monthly_close.json", datetime(2026, 11, 6, tzinfo=UTC), "monthly-close"),
        ("schedule_daily.json", datetime(2026, 11, 10, 3, tzinfo=UTC), "daily-maintenance"),
    ],
)
def test_given_a_schedule_event_when_parsed_then_its_time_and_name(name: str, time: datetime, schedule: str) -> None:
    parsed = schedule_event(sample(name))
    assert (parsed.time, parsed.schedule) == (time, schedule)


def test_given_each_queues_sample_when_delivered_then_its_typed_job_and_delivery_facts() -> None:
    invoice = delivery(record("sqs_invoice_job.json"), InvoiceJob)
    assert invoice.job == InvoiceJob(run_id="run_202610", period=Period(2026, 10), buyer_id="acc_buyer_example")
    assert (invoice.receive_count, invoice.sent_at) == (1, datetime.fromtimestamp(1_793_923_200, tz=UTC))
    payout = delivery(record("sqs_payout_job.json"), PayoutJob).job
    assert (payout.period, payout.provider_id) == (Period(2026, 10), "acc_provider_example")
    assert delivery(record("sqs_channel_push.json"), PushJob).job.version == 1
    assert delivery(record("sqs_email.json"), EmailJob).job.email_id == "eml_example"


def test_given_a_job_when_written_and_read_back_then_the_same_compact_body() -> None:
    job = InvoiceJob(run_id="run_202610", period=Period(2026, 10), buyer_id="acc_1")
    assert job.body() == '{"run_id":"run_202610","period":"2026-10","buyer_id":"acc_1"}'
    assert InvoiceJob.model_validate_json(job.body()) == job


@pytest.mark.parametrize(
    "body", ['{"run_id": "r", "period": "2026-1", "buyer_id": "b"}', "{not json", '{"run_id": "r"}']
)
def test_given_a_poison_message_when_delivered_then_it_raises(body: str) -> None:
    raw = sample("sqs_invoice_job.json")["Records"][0]
    with pytest.raises((ModelValidationError, ValidationError)):
        delivery(SQSRecord({**raw, "body": body}), InvoiceJob)


def test_the_push_back_off_doubles_from_30_seconds_up_to_15_minutes() -> None:
    assert [backoff_seconds(n) for n in (1, 2, 3, 4, 5, 6, 7)] == [30, 60, 120, 240, 480, 900, 900]


class _Billing:
    """The billing service as the job runner sees it; ``calls`` in order."""

    def __init__(self, failing: set[str]) -> None:
        self.failing = failing
        self.calls: list[tuple[str, ...]] = []

    def process_invoice_job(self, *, buyer_id: str, **_: Any) -> str:
        self.calls.append(("invoice", buyer_id))
        if buyer_id in self.failing:
            raise RuntimeError(f"{buyer_id} is broken")
        return "created"

    def process_payout_job(self, **_: Any) -> str:
        raise AssertionError("an invoice worker runs no payout")

    def record_failure(self, *, kind: str, entity_id: str, attempts: int, **_: Any) -> None:
        self.calls.append(("failed", kind, entity_id, str(attempts)))

    def record_last_deliveries(self, kind: str, jobs: list[tuple[Period, str, int, datetime]]) -> None:
        self.calls.append(("last", kind, *(entity for _, entity, _, _ in jobs)))


def _invoice_batch(*jobs: tuple[str, int]) -> dict[str, Any]:
    template = sample("sqs_invoice_job.json")["Records"][0]
    records = []
    for n, (buyer, receives) in enumerate(jobs):
        body = (
            "not a job"
            if buyer == "poison"
            else json.dumps({"run_id": "run_1", "period": "2026-10", "buyer_id": buyer})
        )
        attributes = {**template["attributes"], "ApproximateReceiveCount": str(receives)}
        records.append({**template, "messageId": f"m{n}", "body": body, "attributes": attributes})
    return {"Records": records}


def test_given_a_batch_of_billing_jobs_then_the_last_deliveries_are_recorded_first_and_failures_are_partial() -> None:
    from audiens.services.billing_jobs import BillingJobRunner
    from audiens.triggers import sqs_jobs
    from tests.support.lambda_api import FakeContext

    billing = _Billing(failing={"acc_b", "acc_c"})
    handler = sqs_jobs(InvoiceJob, lambda: BillingJobRunner(billing, max_attempts=5))
    # Given a good job, two failing ones (one on its 5th and last delivery) and a poison message
    result = handler(_invoice_batch(("acc_a", 1), ("acc_b", 2), ("acc_c", 5), ("poison", 5)), FakeContext())
    # Then only the failures are retried, the poison message on its own
    assert sorted(f["itemIdentifier"] for f in result["batchItemFailures"]) == ["m1", "m2", "m3"]
    # And the job on its last delivery was recorded before any job ran, then again with its error
    assert billing.calls == [
        ("last", "invoice", "acc_c"),
        ("invoice", "acc_a"),
        ("invoice", "acc_b"),
        ("invoice", "acc_c"),
        ("failed", "invoice", "acc_c", "5"),
    ]
