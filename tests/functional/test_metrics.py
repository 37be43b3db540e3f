"""Business metrics: each handler writes its CloudWatch EMF line, the one template.yaml's alarms and dashboard read.

The services are replaced by small fakes that return each outcome; the handlers' own code (and Powertools'
flush) runs for real, and the EMF document printed on stdout is parsed like CloudWatch Logs would.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from audiens.domain.periods import Period
from audiens.errors import NotFoundError
from tests.support.lambda_api import FakeContext, load_handler
from tests.support.template import ROOT

EVENTS = ROOT / "events"


def _event(name: str) -> dict[str, Any]:
    return dict(json.loads((EVENTS / name).read_text()))


def emitted(capsys: pytest.CaptureFixture[str]) -> dict[str, float]:
    """Every metric of the EMF documents printed since the last call (name -> value, summed)."""
    values: dict[str, float] = {}
    for line in capsys.readouterr().out.splitlines():
        try:
            doc = json.loads(line)
        except json.JSONDecodeError:
            continue
        if not isinstance(doc, dict) or "_aws" not in doc:
            continue
        for directive in doc["_aws"]["CloudWatchMetrics"]:
            for metric in directive["Metrics"]:
                value = doc[metric["Name"]]
                values[metric["Name"]] = values.get(metric["Name"], 0) + sum(_as_list(value))
    return values


def _as_list(value: Any) -> list[float]:
    return [float(v) for v in value] if isinstance(value, list) else [float(value)]


@dataclass
class Ingested:
    status: str
    rows: int = 3
    accepted_rows: int = 3
    rejected_rows: int = 0
    upload_id: str = "upl_1"
    changed: int = 3
    errors: tuple[Any, ...] = ()


class FakeUsage:
    def __init__(self, record: Ingested) -> None:
        self.record = record

    def ingest(self, created: Any) -> Ingested:
        return self.record


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        (Ingested("accepted"), {"UsageFilesAccepted": 1, "UsageRowsAccepted": 3, "UsageRowsRejected": 0}),
        (
            Ingested("rejected", accepted_rows=0, rejected_rows=2, rows=2),
            {"UsageFilesRejected": 1, "UsageRowsAccepted": 0, "UsageRowsRejected": 2},
        ),
        (Ingested("duplicate"), {"UsageFilesDuplicate": 1}),
    ],
)
def test_a_usage_file_counts_its_outcome_and_rows(
    capsys: pytest.CaptureFixture[str], record: Ingested, expected: dict[str, float]
) -> None:
    handler = load_handler("UsageIngestFunction")
    capsys.readouterr()
    handler(_event("s3_usage_object_created.json"), FakeContext(), service=FakeUsage(record))
    assert emitted(capsys) == expected


class FakeBilling:
    def __init__(self, *, outcome: str = "created", error: Exception | None = None, status: str | None = None):
        self.outcome, self.error, self.status = outcome, error, status
        self.failures: list[str] = []
        self.last_deliveries: list[str] = []

    def process_invoice_job(self, **_: Any) -> str:
        if self.error:
            raise self.error
        return self.outcome

    process_payout_job = process_invoice_job

    def record_failure(self, *, kind: str, **_: Any) -> None:
        self.failures.append(kind)

    def record_last_deliveries(self, kind: str, jobs: list[Any]) -> None:
        self.last_deliveries += [kind] * len(jobs)

    def run_report(self, period: Period) -> Any:
        if self.status is None:
            raise NotFoundError(f"No billing run for {period}.")
        return SimpleNamespace(run=SimpleNamespace(status=self.status))


def _jobs(name: str, receive_count: int) -> dict[str, Any]:
    event = copy.deepcopy(_event(name))
    event["Records"][0]["attributes"]["ApproximateReceiveCount"] = str(receive_count)
    return event


@pytest.mark.parametrize(
    ("logical_id", "events", "metric"),
    [
        ("InvoiceWorkerFunction", "sqs_invoice_job.json", "InvoicesIssued"),
        ("PayoutWorkerFunction", "sqs_payout_job.json", "PayoutsIssued"),
    ],
)
def test_issued_documents_and_dead_lettered_jobs_are_counted(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, logical_id: str, events: str, metric: str
) -> None:
    from audiens import wiring

    handler = load_handler(logical_id)
    billing = FakeBilling()
    monkeypatch.setattr(wiring, "billing_service", lambda: billing)  # what the worker's job runner runs jobs on
    monkeypatch.setattr(wiring.billing_jobs, "_built", {})  # a runner over the fake, for this test only
    capsys.readouterr()
    # Given a job whose document is created, then a duplicate delivery of it
    handler(_jobs(events, 1), FakeContext())
    assert emitted(capsys) == {metric: 1}
    billing.outcome = "duplicate"
    handler(_jobs(events, 2), FakeContext())
    assert emitted(capsys) == {}
    # When a job fails on its last allowed delivery, it is counted as dead-lettered
    billing.error = RuntimeError("boom")
    with pytest.raises(BatchProcessingError):  # a batch whose every record failed fails the invocation
        handler(_jobs(events, 5), FakeContext())
    assert emitted(capsys) == {"BillingJobsDeadLettered": 1}
    assert billing.failures == [logical_id.removesuffix("WorkerFunction").lower()]
    assert billing.last_deliveries == billing.failures  # recorded before it ran, then with its error
    # And an earlier failed delivery (it will be retried) is not
    with pytest.raises(BatchProcessingError):
        handler(_jobs(events, 1), FakeContext())
    assert emitted(capsys) == {}


@pytest.mark.parametrize(("status", "value"), [(None, 1), ("running", 1), ("completed", 0)])
def test_the_close_check_records_whether_the_previous_month_is_closed(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, status: str | None, value: int
) -> None:
    handler = load_handler("CloseReportingWindowFunction")
    module = __import__(handler.__module__, fromlist=["billing_service"])
    monkeypatch.setattr(module, "billing_service", lambda: FakeBilling(status=status))
    capsys.readouterr()
    result = handler({"time": "2026-11-06T06:00:00Z", "schedule": "close-check"}, FakeContext())
    assert (result["period"], result["completed"]) == ("2026-10", value == 0)
    assert emitted(capsys) == {"CloseNotCompleted": value}


def test_the_close_check_schedule_is_in_the_template_at_the_deadline_hour() -> None:
    from tests.support.template import functions

    schedule = functions()["CloseReportingWindowFunction"]["Properties"]["Events"]["CloseCheck"]["Properties"]
    assert json.loads(schedule["Input"])["schedule"] == "close-check"
    assert schedule["ScheduleExpression"] == {"Fn::Sub": "cron(0 ${CloseDeadlineHour} 6 * ? *)"}


def test_a_failed_push_is_counted_and_its_last_attempt_as_dead_lettered(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    handler = load_handler("ChannelPushFunction")
    module = __import__(handler.__module__, fromlist=["channel_service"])

    class Failing:
        def push(self, *_: Any, **__: Any) -> str:
            raise RuntimeError("receiver down")

    monkeypatch.setattr(module, "channel_service", lambda: Failing())
    monkeypatch.setattr(module, "_back_off", lambda record, count: None)
    capsys.readouterr()
    handler(_jobs("sqs_channel_push.json", 1), FakeContext())
    assert emitted(capsys) == {"ChannelPushesFailed": 1}
    handler(_jobs("sqs_channel_push.json", 4), FakeContext())  # CHANNEL_PUSH_MAX_RECEIVES defaults to 4
    assert emitted(capsys) == {"ChannelPushesFailed": 1, "ChannelPushesDeadLettered": 1}


def test_the_alarmed_metric_is_the_one_the_code_emits_with_the_service_dimension_lambda_gives() -> None:
    from tests.support.template import load, resources

    alarm = resources("AWS::CloudWatch::Alarm")["CloseNotCompletedAlarm"]["Properties"]
    code = (ROOT / "functions" / "close_reporting_window" / "app.py").read_text()
    assert f'count("{alarm["MetricName"]}"' in code
    env = load()["Globals"]["Function"]["Environment"]["Variables"]
    # Powertools adds the dimension service=<POWERTOOLS_SERVICE_NAME> to every metric
    assert alarm["Dimensions"] == [{"Name": "service", "Value": env["POWERTOOLS_SERVICE_NAME"]}]
    assert alarm["Namespace"] == env["POWERTOOLS_METRICS_NAMESPACE"]
