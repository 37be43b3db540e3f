"""The local runtime keeps its state across restarts when given a state folder (``make up`` does).

Each test starts the fixture template's runtime, puts data in it, stops it and starts another one on the
same folder. Without a folder (tests, the demo) every start is fresh.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from local_runtime import LocalRuntime
from local_runtime.clock import parse_time

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "local_runtime" / "template.yaml"
START = "2026-11-03T10:00:00Z"


@pytest.fixture(autouse=True)
def _no_clock_from_the_environment() -> Iterator[None]:
    saved = os.environ.pop("AUDIENS_CLOCK", None)
    yield
    if saved is not None:
        os.environ["AUDIENS_CLOCK"] = saved


def _runtime(state_dir: Path | None, **kwargs: Any) -> LocalRuntime:
    return LocalRuntime(FIXTURE, api_port=0, aws_port=0, state_dir=state_dir, **kwargs)


def _records(rt: LocalRuntime) -> dict[str, dict[str, Any]]:
    items = rt.client("dynamodb").scan(TableName=rt.resource("RecordsTable"), ConsistentRead=True)["Items"]
    return {i["pk"]["S"]: i for i in items}


def _dead_letters(rt: LocalRuntime) -> list[str]:
    sqs = rt.client("sqs")
    url = rt.resource("WorkDeadLetterQueue")
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0).get("Messages", [])
    return sorted(m["Body"] for m in messages)


def test_a_restart_on_the_same_folder_keeps_items_objects_queued_messages_outbox_and_clock(tmp_path: Path) -> None:
    state = tmp_path / "state"
    # Given a runtime with data in every kind of resource
    with _runtime(state, clock=START) as first:
        first.client("dynamodb").put_item(
            TableName=first.resource("RecordsTable"),
            Item={"pk": {"S": "kept#1"}, "blob": {"B": b"\x00\xffbytes"}, "n": {"N": "42"}},
        )
        bucket = first.resource("UploadsBucket")
        first.client("s3").put_object(
            Bucket=bucket, Key="in/a+b 100%.csv", Body=b"a,b\n", ContentType="text/csv", Metadata={"origin": "drop"}
        )
        first.wait_idle(timeout=30)
        first.client("sqs").send_message(QueueUrl=first.resource("WorkDeadLetterQueue"), MessageBody='{"id": "dead"}')
        reply = first.invoke("EchoFunction", _proxy("POST", "/actions/email", {"to": "kept@example.com"}))
        assert reply.ok, reply.error
        moved = first.clock.set(parse_time(START) + timedelta(days=3))
        s3_events = {pk for pk in _records(first) if pk.startswith("s3#")}
        assert len(s3_events) == 1
    assert (state / "snapshot" / "state.json").is_file()

    # When a new runtime starts on the same folder
    with _runtime(state) as second:
        # Then everything is back, under the same names
        records = _records(second)
        assert records["kept#1"]["blob"]["B"] == b"\x00\xffbytes" and records["kept#1"]["n"]["N"] == "42"
        got = second.client("s3").get_object(Bucket=second.resource("UploadsBucket"), Key="in/a+b 100%.csv")
        assert got["Body"].read() == b"a,b\n" and got["ContentType"] == "text/csv"
        assert got["Metadata"] == {"origin": "drop"}
        assert _dead_letters(second) == ['{"id": "dead"}']
        assert [e["to"] for e in second.outbox()] == [["kept@example.com"]]
        # and the clock kept its lead over real time
        assert abs((second.clock.now() - moved).total_seconds()) < 30
        # and putting the object back fired no S3 event: nothing was processed twice
        second.wait_idle(timeout=30)
        assert {pk for pk in _records(second) if pk.startswith("s3#")} == s3_events
        assert second.state is not None and second.state.restored is not None
        assert second.state.restored.objects == 1 and second.state.restored.emails == 1


def test_without_a_state_folder_every_start_is_fresh(tmp_path: Path) -> None:
    with _runtime(None, clock=START) as first:
        first.client("dynamodb").put_item(TableName=first.resource("RecordsTable"), Item={"pk": {"S": "gone"}})
        assert first.state is None
    with _runtime(None, clock=START) as second:
        assert "gone" not in _records(second)
    assert not list(tmp_path.iterdir())


def test_the_state_is_saved_while_running_so_a_crash_loses_at_most_one_interval(tmp_path: Path) -> None:
    state = tmp_path / "state"
    with _runtime(state, clock=START, state_save_interval=0.5) as rt:
        rt.client("dynamodb").put_item(TableName=rt.resource("RecordsTable"), Item={"pk": {"S": "early"}})
        deadline = time.monotonic() + 20
        saved: dict[str, Any] = {}
        while time.monotonic() < deadline:
            manifest = state / "snapshot" / "state.json"
            saved = json.loads(manifest.read_text()) if manifest.is_file() else {}
            if any(i["pk"]["S"] == "early" for i in saved.get("tables", {}).get("RecordsTable", [])):
                break
            time.sleep(0.2)
        assert any(i["pk"]["S"] == "early" for i in saved["tables"]["RecordsTable"])
        assert not [p for p in state.iterdir() if p.name.startswith(".")]  # no half-written snapshot left


def _proxy(method: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    return {
        "resource": path,
        "path": path,
        "httpMethod": method,
        "headers": {"Content-Type": "application/json"},
        "multiValueHeaders": {},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {"requestTimeEpoch": 0},
        "body": json.dumps(body),
        "isBase64Encoded": False,
    }


def test_a_state_that_cannot_be_read_stops_the_start_with_a_way_out(tmp_path: Path) -> None:
    from local_runtime.state import StateError

    (tmp_path / "state" / "snapshot").mkdir(parents=True)
    (tmp_path / "state" / "snapshot" / "state.json").write_text("{not json")
    with pytest.raises(StateError, match="make reset"):
        _runtime(tmp_path / "state").start()
