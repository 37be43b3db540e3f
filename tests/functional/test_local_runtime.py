"""The local runtime (infra/local_runtime), driven over HTTP, S3 and SQS like a user would.

Most tests share one runtime started on the fixture template (tests/fixtures/local_runtime), which has
one of every trigger the runtime emulates, so the runtime is tested without the application's code.
Tests that move the clock start from where the schedules have got to, or use a stretch of time no
other test lives through, so they do not depend on their order.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus, urlsplit

import boto3
import pytest

from local_runtime import LocalRuntime
from local_runtime.clock import Clock, parse_time, rfc3339
from local_runtime.moto_patches import FAST_DYNAMODB_OPERATIONS
from local_runtime.schedule_expr import ScheduleExpressionError, fires_between, next_fire, parse_expression
from local_runtime.template import Template, load_yaml

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "local_runtime" / "template.yaml"
START = "2026-11-03T10:00:00Z"
LEAK = "AUDIENS_TEST_MUST_NOT_LEAK"


# ------------------------------------------------------------------------------------------- helpers
class Reply:
    def __init__(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body

    def json(self) -> Any:
        return json.loads(self.body)

    def header(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k.lower() == name.lower()]


def call(
    rt: LocalRuntime,
    method: str,
    path: str,
    body: bytes | str | dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Reply:
    url = urlsplit(rt.api_url)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    data = json.dumps(body).encode() if isinstance(body, dict) else body.encode() if isinstance(body, str) else body
    all_headers = dict(headers or {})
    if isinstance(body, dict):
        all_headers.setdefault("Content-Type", "application/json")
    connection.request(method, path, body=data, headers=all_headers)
    response = connection.getresponse()
    reply = Reply(response.status, response.getheaders(), response.read())
    connection.close()
    return reply


def echo(rt: LocalRuntime, path: str, **kwargs: Any) -> dict[str, Any]:
    reply = call(rt, kwargs.pop("method", "GET"), path, **kwargs)
    assert reply.status == 200, reply.body
    return dict(reply.json())


def records(rt: LocalRuntime, prefix: str) -> dict[str, Any]:
    table = rt.resource("RecordsTable")
    items = rt.client("dynamodb").scan(TableName=table, ConsistentRead=True)["Items"]
    return {i["pk"]["S"]: json.loads(i["payload"]["S"]) for i in items if i["pk"]["S"].startswith(prefix)}


def wait_for(what: str, check: Callable[[], Any], timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def queue_count(rt: LocalRuntime, url: str) -> int:
    attributes = rt.client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
    return int(attributes["Attributes"]["ApproximateNumberOfMessages"])


def advance(rt: LocalRuntime, delta: timedelta) -> datetime:
    """Move the clock forward from wherever the schedules have got to (so no earlier test interferes)."""
    base = max(rt.clock.now(), rt.scheduler.high_water)
    return rt.clock.set(base + delta)


def ready_limit_s() -> float:
    """The 10 s readiness target holds on an idle machine; on one busier than its cores it scales with the load."""
    return 10.0 * max(1.0, os.getloadavg()[0] / (os.cpu_count() or 1))


def authorizer_calls(rt: LocalRuntime) -> int:
    return rt.pools["AuthorizerFunction"].invocations


@pytest.fixture(scope="module")
def rt() -> Iterator[LocalRuntime]:
    from tests.support.environ import environ_replaced

    with (
        environ_replaced(("AUDIENS_OPERATOR_KEY", "AUDIENS_CLOCK"), {LEAK: "the runtime's own environment"}),
        LocalRuntime(FIXTURE, api_port=0, aws_port=0, clock=START) as runtime,
    ):
        yield runtime


# ------------------------------------------------------------------------------------ template, pure
def test_short_tags_become_long_form_intrinsics() -> None:
    # Given every CloudFormation short tag
    text = """
    a: !Ref Stage
    b: !GetAtt Queue.Arn
    c: !GetAtt [Queue, QueueName]
    d: !Sub "x-${Stage}"
    e: !If [IsProd, !Ref "AWS::NoValue", 1]
    f: !Join [",", [!Select [0, !Split ["-", "a-b"]], !Base64 hi]]
    g: !And [!Equals [1, 1], !Not [!Condition IsProd], !Or [!Equals [a, b]]]
    h: !FindInMap [M, k, v]
    i: !GetAZs ""
    j: !ImportValue other
    k: 2026-11-06
    """
    # When it is loaded
    loaded = load_yaml(text)
    # Then each tag is its long form and dates stay strings
    assert loaded["a"] == {"Ref": "Stage"}
    assert loaded["b"] == {"Fn::GetAtt": ["Queue", "Arn"]}
    assert loaded["c"] == {"Fn::GetAtt": ["Queue", "QueueName"]}
    assert loaded["d"] == {"Fn::Sub": "x-${Stage}"}
    assert loaded["e"] == {"Fn::If": ["IsProd", {"Ref": "AWS::NoValue"}, 1]}
    assert loaded["f"] == {"Fn::Join": [",", [{"Fn::Select": [0, {"Fn::Split": ["-", "a-b"]}]}, {"Fn::Base64": "hi"}]]}
    assert loaded["g"]["Fn::And"][1] == {"Fn::Not": [{"Condition": "IsProd"}]}
    assert loaded["h"] == {"Fn::FindInMap": ["M", "k", "v"]}
    assert loaded["i"] == {"Fn::GetAZs": ""}
    assert loaded["j"] == {"Fn::ImportValue": "other"}
    assert loaded["k"] == "2026-11-06"


def test_globals_merge_into_every_function() -> None:
    template = Template.load(FIXTURE)
    echo_props = template.resources["EchoFunction"]["Properties"]
    worker_props = template.resources["WorkerFunction"]["Properties"]
    # Then local values win, maps merge, lists concatenate
    assert echo_props["MemorySize"] == 512 and worker_props["MemorySize"] == 256
    assert echo_props["Layers"] == [{"Ref": "FixtureLayer"}]
    assert set(echo_props["Environment"]["Variables"]) >= {"STAGE", "RECORDS_TABLE", "WORK_QUEUE_URL"}
    assert set(worker_props["Environment"]["Variables"]) == {"STAGE", "RECORDS_TABLE"}


# ------------------------------------------------------------------------------------- cron, pure
@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        ("cron(0 0 6 * ? *)", "2026-10-20T00:00:00Z", "2026-11-06T00:00:00Z"),
        ("cron(0 0 6 * ? *)", "2026-11-06T00:00:00Z", "2026-12-06T00:00:00Z"),
        ("cron(0 3 * * ? *)", "2026-11-03T10:00:00Z", "2026-11-04T03:00:00Z"),
        ("cron(0 3 * * ? *)", "2026-11-03T02:59:59Z", "2026-11-03T03:00:00Z"),
        ("cron(0/15 9-17 ? * MON-FRI *)", "2026-11-06T17:50:00Z", "2026-11-09T09:00:00Z"),
        ("cron(30 8 1,15 JAN,JUL ? 2027)", "2026-11-03T00:00:00Z", "2027-01-01T08:30:00Z"),
        ("cron(0 12 ? * SUN *)", "2026-11-03T00:00:00Z", "2026-11-08T12:00:00Z"),
        ("rate(5 minutes)", "2026-11-03T10:07:00Z", "2026-11-03T10:10:00Z"),
        ("at(2026-12-24T18:00:00)", "2026-11-03T00:00:00Z", "2026-12-24T18:00:00Z"),
    ],
)
def test_next_fire_time(expression: str, after: str, expected: str) -> None:
    parsed = parse_expression(expression, anchor=parse_time("2026-11-03T10:00:00Z"))
    assert rfc3339(next_fire(parsed, parse_time(after))) == expected  # type: ignore[arg-type]


def test_fires_between_lists_each_occurrence_and_caps() -> None:
    daily = parse_expression("cron(0 3 * * ? *)")
    fires, capped = fires_between(daily, parse_time("2026-11-03T10:00:00Z"), parse_time("2026-11-06T03:00:00Z"), 1000)
    assert [rfc3339(f) for f in fires] == ["2026-11-04T03:00:00Z", "2026-11-05T03:00:00Z", "2026-11-06T03:00:00Z"]
    assert not capped
    minutely = parse_expression("cron(* * * * ? *)")
    fires, capped = fires_between(
        minutely, parse_time("2026-11-03T00:00:00Z"), parse_time("2026-11-10T00:00:00Z"), 1000
    )
    assert len(fires) == 1000 and capped


@pytest.mark.parametrize(
    "expression",
    [
        "cron(0 0 L * ? *)",
        "cron(0 0 ? * 6#3 *)",
        "cron(0 0 15W * ? *)",
        "cron(0 0 * * * *)",
        "cron(0 0 ? * ? *)",
        "cron(60 0 * * ? *)",
        "cron(0 0 * *)",
        "rate(0 minutes)",
        "rate(1 week)",
        "every day",
    ],
)
def test_invalid_or_unsupported_expressions_are_rejected(expression: str) -> None:
    with pytest.raises(ScheduleExpressionError):
        parse_expression(expression)


def test_the_authorizer_cache_drops_expired_tokens_instead_of_growing_all_day() -> None:
    from local_runtime import apigw

    authorizer = apigw.Authorizer(name="a", function_id="f", header="Authorization", validation=None, ttl_s=300)
    # Given a full cache of results for tokens whose time has passed (never presented again)
    for i in range(apigw.PRUNE_AT):
        authorizer.cache[f"old-{i}"] = (time.monotonic() - 1, {"principalId": str(i)})
    authorizer.cache["live"] = (time.monotonic() + 300, {"principalId": "live"})
    # When another token is remembered, Then the expired ones are dropped and the live ones kept
    authorizer.remember("fresh", {"principalId": "fresh"})
    assert sorted(authorizer.cache) == ["fresh", "live"]
    assert authorizer.cached("fresh") == {"principalId": "fresh"}


def test_clock_is_settable_and_keeps_ticking() -> None:
    clock = Clock("2026-11-03T10:00:00Z")
    assert abs((clock.now() - parse_time("2026-11-03T10:00:00Z")).total_seconds()) < 1
    clock.set(datetime(2027, 1, 1, tzinfo=UTC))
    time.sleep(0.05)
    assert parse_time("2027-01-01T00:00:00.04Z") < clock.now() < parse_time("2027-01-01T00:00:01Z")


# -------------------------------------------------------------------------------- the runtime: basics
def test_ready_quickly_with_resources_from_the_template(rt: LocalRuntime) -> None:
    assert rt.ready_seconds is not None and rt.ready_seconds < ready_limit_s()
    assert rt.api_url.startswith("http://127.0.0.1:") and rt.aws_endpoint.startswith("http://127.0.0.1:")
    assert rt.resource("RecordsTable") == "fixture-records-local"
    assert rt.resource("UploadsBucket") == "fixture-uploads-local"
    assert rt.resource("WorkQueue").endswith("/fixture-work-local")
    ttl = rt.client("dynamodb").describe_time_to_live(TableName="fixture-records-local")["TimeToLiveDescription"]
    assert ttl["TimeToLiveStatus"] == "ENABLED"


def test_function_gets_the_template_environment_and_the_lambda_runtime_variables(rt: LocalRuntime) -> None:
    body = echo(rt, "/items/1")
    env = body["env"]
    # Then template variables are resolved like CloudFormation would
    assert env["STAGE"] == "local" and env["RECORDS_TABLE"] == "fixture-records-local"
    assert env["WORK_QUEUE_ARN"] == "arn:aws:sqs:us-east-1:123456789012:fixture-work-local"
    assert env["WORK_QUEUE_NAME"] == "fixture-work-local"
    assert env["BUCKET_ARN"] == "arn:aws:s3:::fixture-uploads-local"
    assert env["TABLE_ARN"] == "arn:aws:dynamodb:us-east-1:123456789012:table/fixture-records-local"
    assert env["API_ID"] == rt.resource("FixtureApi")
    assert env["TOPIC_ARN"] in [t["TopicArn"] for t in rt.client("sns").list_topics()["Topics"]]
    assert env["SETTING_PARAMETER"] == "/fixture/fixture-work-local/setting"
    assert env["SUB_ALL"] == "us-east-1|123456789012|aws|audiens-local|local|fixture-records-local|fixture-work-local"
    assert env["SUB_VARS"] == "local-x+b"
    assert env["IS_LOCAL"] == "yes" and "FROM_NOT" not in env
    assert env["PUBLIC_BASE_URL"] == rt.api_url
    assert env["OPERATOR_KEY_HASH"] == hashlib.sha256(b"aud_operator_local_development_key").hexdigest()
    # and the Lambda runtime's own variables
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == "fixture-echo-local"
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "512"
    assert env["AWS_ENDPOINT_URL"] == rt.aws_endpoint
    assert env["AWS_ENDPOINT_URL_API_GATEWAY"] == f"{rt.api_url}/_local/apigateway"
    assert env["POWERTOOLS_TRACE_DISABLED"] == "true" and env["AWS_ACCESS_KEY_ID"] == "testing"
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "us-east-1"
    # and nothing of the runtime's own environment
    assert LEAK not in env and "PYTHONPATH" not in env
    # code first, then the layer, like /var/task and /opt/python
    assert body["sys_path"][0].endswith("functions/echo") and body["sys_path"][1].endswith("local_runtime/layer")
    assert body["layer"] == "from-the-layer"
    context = body["context"]
    assert context["function_name"] == "fixture-echo-local" and context["memory_limit_in_mb"] == "512"
    assert context["invoked_function_arn"] == "arn:aws:lambda:us-east-1:123456789012:function:fixture-echo-local"
    assert 0 < context["remaining_ms"] <= 10_000 and context["function_version"] == "$LATEST"


# ------------------------------------------------------------------------------------------- gateway
def test_most_specific_route_wins(rt: LocalRuntime) -> None:
    allow = {"Authorization": "Bearer allow-routes"}
    assert echo(rt, "/items/special")["event"]["resource"] == "/items/special"
    item = echo(rt, "/items/42")["event"]
    assert (item["resource"], item["pathParameters"]) == ("/items/{id}", {"id": "42"})
    files = echo(rt, "/files/a/b/c.csv")["event"]
    assert (files["resource"], files["pathParameters"]) == ("/files/{proxy+}", {"proxy": "a/b/c.csv"})
    # a resource without the request's method does not shadow the greedy catch-all (AWS routes on the pair)
    assert call(rt, "POST", "/items/special").status == 401  # → /{proxy+}, which needs the authorizer
    assert echo(rt, "/items/special", method="POST", headers=allow)["event"]["resource"] == "/{proxy+}"
    assert echo(rt, "/actions/ping", headers=allow)["event"]["resource"] == "/{proxy+}"  # only POST is declared
    assert echo(rt, "/v1/anything", headers=allow)["event"]["pathParameters"] == {"proxy": "v1/anything"}


def test_proxy_event_is_built_like_api_gateway(rt: LocalRuntime) -> None:
    moment = advance(rt, timedelta(hours=1)).replace(microsecond=0)
    rt.clock.set(moment)
    reply = call(rt, "GET", "/items/42?tag=a&tag=b&q=x%20y&empty=", headers={"X-Trace": "t1", "User-Agent": "tests/1"})
    assert reply.status == 200
    event = reply.json()["event"]
    context = event["requestContext"]
    assert event["httpMethod"] == "GET" and event["path"] == "/items/42" and event["resource"] == "/items/{id}"
    assert event["queryStringParameters"] == {"tag": "b", "q": "x y", "empty": ""}
    assert event["multiValueQueryStringParameters"] == {"tag": ["a", "b"], "q": ["x y"], "empty": [""]}
    assert event["headers"]["X-Trace"] == "t1" and event["multiValueHeaders"]["X-Trace"] == ["t1"]
    assert event["body"] is None and event["isBase64Encoded"] is False and event["stageVariables"] is None
    assert 0 <= context["requestTimeEpoch"] - int(moment.timestamp() * 1000) < 10_000
    assert context["requestTime"].startswith(moment.strftime("%d/%b/%Y:%H:%M"))
    assert context["stage"] == "local" and context["path"] == "/local/items/42"
    assert context["resourcePath"] == "/items/{id}" and context["httpMethod"] == "GET"
    assert context["apiId"] == rt.resource("FixtureApi") and context["accountId"] == "123456789012"
    assert context["identity"]["sourceIp"] == "127.0.0.1" and context["identity"]["userAgent"] == "tests/1"
    assert re.fullmatch(r"[0-9a-f-]{36}", context["requestId"]) and "authorizer" not in context
    # and the function's result is mapped back: headers, multi-value headers, request id
    assert reply.header("X-Echo") == ["1"] and reply.header("Set-Cookie") == ["a=1", "b=2"]
    assert reply.header("x-amzn-RequestId") == [context["requestId"]]


def test_bodies_are_text_or_base64_by_content_type(rt: LocalRuntime) -> None:
    text = echo(rt, "/upload", method="POST", body={"a": 1})["event"]
    assert text["body"] == '{"a": 1}' and text["isBase64Encoded"] is False
    raw = bytes(range(256))
    binary = echo(rt, "/upload", method="POST", body=raw, headers={"Content-Type": "application/octet-stream"})["event"]
    assert binary["isBase64Encoded"] is True and binary["body"] == base64.b64encode(raw).decode()
    # A base64 answer is decoded only for a client whose first Accept type is a binary media type, as on AWS
    png = call(rt, "GET", "/files/binary", headers={"Accept": "image/png, */*"})
    assert png.status == 200 and png.body == b"\x89PNG\r\n\x1a\n" and png.header("Content-Type") == ["image/png"]
    as_text = call(rt, "GET", "/files/binary", headers={"Accept": "application/json"})
    assert as_text.status == 200 and as_text.body == base64.b64encode(b"\x89PNG\r\n\x1a\n")


def test_authorizer_refuses_missing_or_malformed_header_without_invoking(rt: LocalRuntime) -> None:
    before = authorizer_calls(rt)
    for headers in ({}, {"Authorization": "Basic abc"}, {"Authorization": "Bearer NOT_MATCHING"}):
        reply = call(rt, "GET", "/v1/me", headers=headers)
        assert reply.status == 401
        assert reply.json() == {"error": {"code": "unauthorized", "message": "fixture: key required", "details": []}}
    assert authorizer_calls(rt) == before


def test_authorizer_exception_unauthorized_is_401_and_crash_is_500(rt: LocalRuntime) -> None:
    reply = call(rt, "GET", "/v1/me", headers={"Authorization": "Bearer unauthorized-x1"})
    assert reply.status == 401 and reply.json()["error"]["message"] == "fixture: key required"
    crash = call(rt, "GET", "/v1/me", headers={"Authorization": "Bearer crash-x1"})
    assert crash.status == 500 and crash.json()["error"]["code"] == "internal_error"


def test_authorizer_deny_is_access_denied(rt: LocalRuntime) -> None:
    reply = call(rt, "GET", "/v1/me", headers={"Authorization": "Bearer deny-x1"})
    assert reply.status == 401
    assert reply.json() == {"error": {"code": "unauthorized", "message": "fixture: key revoked", "details": []}}


def test_authorizer_allow_passes_context_and_is_cached_until_flushed(rt: LocalRuntime) -> None:
    token = {"Authorization": f"Bearer allow-{uuid.uuid4().hex[:8]}"}
    before = authorizer_calls(rt)
    first = echo(rt, "/v1/me", headers=token)["event"]["requestContext"]["authorizer"]
    # Then the context reaches the function stringified, with the principal
    who = token["Authorization"].split("-", 1)[1]
    assert first == {
        "account_id": who,
        "roles": "buyer,provider",
        "level": "3",
        "operator": "false",
        "principalId": who,
        "integrationLatency": 0,
    }
    echo(rt, "/v1/other/route", headers=token)
    assert authorizer_calls(rt) == before + 1  # cached by header value for ReauthorizeEvery
    # When the stage's authorizer cache is flushed through boto3 (what the app does on revocation)
    gateway = boto3.client("apigateway", endpoint_url=f"{rt.api_url}/_local/apigateway", region_name="us-east-1")
    gateway.flush_stage_authorizers_cache(restApiId=rt.resource("FixtureApi"), stageName="local")
    echo(rt, "/v1/me", headers=token)
    assert authorizer_calls(rt) == before + 2
    # and from inside a function, through AWS_ENDPOINT_URL_API_GATEWAY
    assert echo(rt, "/actions/flush", method="POST")["flushed"] is True
    echo(rt, "/v1/me", headers=token)
    assert authorizer_calls(rt) == before + 3
    with pytest.raises(gateway.exceptions.NotFoundException):
        gateway.flush_stage_authorizers_cache(restApiId="nosuchapi1", stageName="local")


def test_body_over_6_mb_is_refused_without_invoking(rt: LocalRuntime) -> None:
    before = rt.pools["EchoFunction"].invocations
    reply = call(rt, "POST", "/upload", body=b"x" * (6 * 1024 * 1024 + 1), headers={"Content-Type": "text/plain"})
    assert reply.status == 413
    assert reply.json()["error"] == {"code": "payload_too_large", "message": "fixture: too large", "details": []}
    assert rt.pools["EchoFunction"].invocations == before
    assert (
        call(rt, "POST", "/upload", body=b"x" * (6 * 1024 * 1024), headers={"Content-Type": "text/plain"}).status == 200
    )


def test_no_route_is_missing_authentication_token(rt: LocalRuntime) -> None:
    reply = call(rt, "GET", "/")  # {proxy+} never matches the root
    assert reply.status == 404
    assert reply.json() == {"error": {"code": "not_found", "message": "fixture: no such route", "details": []}}
    assert reply.header("x-amzn-ErrorType") == ["MissingAuthenticationTokenException"]


def test_lambda_error_timeout_or_malformed_result_is_502_default_5xx(rt: LocalRuntime) -> None:
    expected = {"error": {"code": "internal_error", "message": "fixture: went wrong", "details": []}}
    for path in ("/files/boom", "/files/malformed"):
        reply = call(rt, "GET", path)
        assert (reply.status, reply.json()) == (502, expected)
    started = time.monotonic()
    slow = call(rt, "GET", "/slow")
    assert (slow.status, slow.json()) == (502, expected)
    assert time.monotonic() - started < 4.9  # killed at its 1 s Timeout, not after its 5 s sleep
    assert echo(rt, "/items/after-errors")["event"]["pathParameters"] == {"id": "after-errors"}


def test_api_gateway_gives_up_at_its_integration_timeout_with_504(rt: LocalRuntime) -> None:
    """A function whose Timeout is longer than API Gateway's 29 s: the client gets 504 at 29 s."""
    rt.gateway.integration_timeout_s = 0.5  # /slow's function has a 1 s Timeout: longer than this gateway's
    try:
        started = time.monotonic()
        reply = call(rt, "GET", "/slow")
        waited = time.monotonic() - started
    finally:
        rt.gateway.integration_timeout_s = 29.0
    # 504 INTEGRATION_TIMEOUT, its body the template's DEFAULT_5XX one (it has no INTEGRATION_TIMEOUT response)
    assert (reply.status, reply.json()["error"]["message"]) == (504, "fixture: went wrong")
    assert waited < 1.0
    rt.wait_idle(timeout=10)  # the function itself ran on until its own timeout


# ----------------------------------------------------------------------------------------------- SQS
def test_sqs_batch_partial_failure_and_poison_message_to_dlq(rt: LocalRuntime) -> None:
    sqs = rt.client("sqs")
    run = uuid.uuid4().hex[:8]
    ok1, ok2, poison = f"{run}-ok1", f"{run}-ok2", f"{run}-poison"
    queue_url = rt.resource("WorkQueue")
    dlq_url = rt.resource("WorkDeadLetterQueue")
    dlq_before = queue_count(rt, dlq_url)
    # Given one batch of three messages, one of which always fails
    sqs.send_message_batch(
        QueueUrl=queue_url,
        Entries=[
            {
                "Id": "1",
                "MessageBody": json.dumps({"id": ok1}),
                "MessageAttributes": {"kind": {"DataType": "String", "StringValue": "test"}},
            },
            {"Id": "2", "MessageBody": json.dumps({"id": ok2})},
            {"Id": "3", "MessageBody": json.dumps({"id": poison, "fail": True})},
        ],
    )
    rt.wait_idle(timeout=30)
    got = records(rt, f"sqs#{run}")
    # Then the batch was delivered at once, the good ones committed once, the poison retried then dead-lettered
    assert set(got) == {f"sqs#{ok1}#1", f"sqs#{ok2}#1", f"sqs#{poison}#1", f"sqs#{poison}#2"}
    assert got[f"sqs#{ok1}#1"]["batch_size"] == 3
    record = got[f"sqs#{ok1}#1"]["record"]
    assert record["eventSource"] == "aws:sqs" and record["awsRegion"] == "us-east-1"
    assert record["eventSourceARN"] == "arn:aws:sqs:us-east-1:123456789012:fixture-work-local"
    assert record["messageAttributes"]["kind"] == {
        "stringValue": "test",
        "stringListValues": [],
        "binaryListValues": [],
        "dataType": "String",
    }
    assert {"messageId", "receiptHandle", "md5OfBody"} <= set(record)
    assert {"ApproximateReceiveCount", "SentTimestamp"} <= set(record["attributes"])
    assert queue_count(rt, dlq_url) == dlq_before + 1
    dead = sqs.receive_message(QueueUrl=dlq_url, MaxNumberOfMessages=10)["Messages"]
    assert [json.loads(m["Body"])["id"] for m in dead if run in m["Body"]] == [poison]
    stats = next(q for q in call(rt, "GET", "/_local/queues").json()["queues"] if q["name"] == "fixture-work-local")
    assert stats["consumer"] == "WorkerFunction.Work" and stats["dead_letter_queue"]["max_receive_count"] == 2


def test_sqs_handler_past_its_timeout_is_killed_retried_then_dead_lettered(rt: LocalRuntime) -> None:
    """Lambda stops a handler at its Timeout; SQS redelivers the message, then dead-letters it."""
    sqs = rt.client("sqs")
    run = uuid.uuid4().hex[:8]
    dlq_url = rt.resource("WorkDeadLetterQueue")
    dlq_before = queue_count(rt, dlq_url)
    started = time.monotonic()
    sqs.send_message(QueueUrl=rt.resource("WorkQueue"), MessageBody=json.dumps({"id": run, "sleep": 30}))
    rt.wait_idle(timeout=60)
    # Then each delivery was stopped at the function's 3 s Timeout (not after its 30 s sleep), twice
    # (maxReceiveCount 2), and the message is in the dead-letter queue
    assert time.monotonic() - started < 25
    got = records(rt, f"sqs#{run}#")
    assert set(got) == {f"sqs#{run}#1", f"sqs#{run}#2"}
    assert all(2_000 < entry["remaining_ms"] <= 3_000 for entry in got.values())  # the context knew its deadline
    assert queue_count(rt, dlq_url) == dlq_before + 1
    dead = sqs.receive_message(QueueUrl=dlq_url, MaxNumberOfMessages=10)["Messages"]
    assert [json.loads(m["Body"])["id"] for m in dead if run in m["Body"]] == [run]
    # and nothing the handler would have done after its deadline ever happened
    time.sleep(1)
    assert records(rt, f"done#{run}") == {}


def test_dynamodb_limits_judge_every_process_request(rt: LocalRuntime) -> None:
    """The runtime's DynamoDB endpoint refuses what DynamoDB refuses, for the functions as for any client."""
    if rt.limits is None:
        pytest.skip("AUDIENS_DYNAMODB_LIMITS is off")
    ddb = rt.client("dynamodb")
    table = rt.resource("RecordsTable")
    with pytest.raises(ddb.exceptions.ClientError) as raised:
        ddb.put_item(TableName=table, Item={"pk": {"S": "big"}, "data": {"S": "x" * 410_000}})
    assert raised.value.response["Error"] == {
        "Code": "ValidationException",
        "Message": "Item size has exceeded the maximum allowed size",
    }
    held = {"Put": {"TableName": table, "Item": {"pk": {"S": f"held-{uuid.uuid4().hex}"}}}}
    fault_rate, rt.limits.fault_rate = rt.limits.fault_rate, 0.0  # the transaction held here must not fail
    try:
        in_flight = rt.limits.begin("TransactWriteItems", json.dumps({"TransactItems": [held]}).encode())
    finally:
        rt.limits.fault_rate = fault_rate
    assert in_flight.answer is None
    try:
        with pytest.raises(ddb.exceptions.TransactionCanceledException) as cancelled:
            ddb.transact_write_items(TransactItems=[held])
        assert cancelled.value.response["CancellationReasons"] == [
            {"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"}
        ]
    finally:
        rt.limits.finish(in_flight, 200, b"{}")
    ddb.transact_write_items(TransactItems=[held])


def test_sqs_handler_exception_keeps_the_whole_batch(rt: LocalRuntime) -> None:
    sqs = rt.client("sqs")
    run = uuid.uuid4().hex[:8]
    sqs.send_message_batch(
        QueueUrl=rt.resource("WorkQueue"),
        Entries=[
            {"Id": "1", "MessageBody": json.dumps({"id": f"{run}-fine"})},
            {"Id": "2", "MessageBody": json.dumps({"id": f"{run}-crash", "crash": True})},
        ],
    )
    rt.wait_idle(timeout=30)
    # Then nothing was deleted after the exception: both were received again, up to the DLQ
    assert set(records(rt, f"sqs#{run}")) == {
        f"sqs#{run}-fine#1",
        f"sqs#{run}-fine#2",
        f"sqs#{run}-crash#1",
        f"sqs#{run}-crash#2",
    }


def test_queue_url_from_the_template_works_for_the_functions(rt: LocalRuntime) -> None:
    run = uuid.uuid4().hex[:8]
    reply = call(rt, "POST", "/actions/enqueue", body={"messages": [{"id": f"{run}-via-api"}]})
    assert reply.status == 202
    rt.wait_idle(timeout=30)
    assert set(records(rt, f"sqs#{run}")) == {f"sqs#{run}-via-api#1"}


# ---------------------------------------------------------------------------------------- EventBridge
def test_s3_object_created_reaches_the_rule_with_the_local_clock_as_time(rt: LocalRuntime) -> None:
    moment = advance(rt, timedelta(days=1)).replace(microsecond=0)
    key = f"in/{uuid.uuid4().hex[:8]}/usage file a+b 100%41.csv"
    rt.client("s3").put_object(Bucket=rt.resource("UploadsBucket"), Key=key, Body=b"a,b\n1,2\n")
    rt.wait_idle(timeout=30)
    # The key in the event is URL-encoded as S3 encodes it: decoded once, it is the object's key
    encoded = key.replace("%", "%25").replace("+", "%2B").replace(" ", "+")
    (event,) = [e for pk, e in records(rt, "s3#").items() if pk.startswith(f"s3#{encoded}#")]
    assert event["source"] == "aws.s3" and event["detail-type"] == "Object Created"
    assert 0 <= (parse_time(event["time"]) - moment).total_seconds() < 10
    assert event["detail"]["bucket"]["name"] == "fixture-uploads-local"
    assert event["detail"]["object"]["key"] == encoded and unquote_plus(encoded) == key
    assert event["detail"]["object"]["size"] == 8
    assert event["detail"]["object"]["etag"] and event["id"] != "17793124-05d4-b198-2fde-7ededc63b103"


def test_failing_eventbridge_event_is_retried_then_dead_lettered(rt: LocalRuntime) -> None:
    key = f"fail/{uuid.uuid4().hex[:8]}.csv"
    rt.client("s3").put_object(Bucket=rt.resource("UploadsBucket"), Key=key, Body=b"x")
    rt.wait_idle(timeout=30)
    attempts = [pk for pk in records(rt, "s3#") if pk.startswith(f"s3#{key}#")]
    assert len(attempts) == 1  # the same event id on each attempt: the retry overwrote the same record
    sqs = rt.client("sqs")
    dlq_url = next(u for u in sqs.list_queues()["QueueUrls"] if u.endswith("UploadFunction-Created-dlq"))
    messages = sqs.receive_message(QueueUrl=dlq_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"])["Messages"]
    dead = [m for m in messages if json.loads(m["Body"])["detail"]["object"]["key"] == key]
    assert len(dead) == 1
    assert dead[0]["MessageAttributes"]["ERROR_CODE"]["StringValue"] == "RuntimeError"
    assert rt.pools["UploadFunction"].invocations >= 2


# ------------------------------------------------------------------------------------------ schedules
def test_clock_jump_fires_each_missed_occurrence_and_never_twice(rt: LocalRuntime) -> None:
    base = max(rt.clock.now(), rt.scheduler.high_water)
    start = (base + timedelta(days=1)).replace(hour=12, minute=0, second=0, microsecond=0)
    rt.clock.set(start)
    rt.wait_idle(timeout=30)
    before = set(records(rt, "tick#daily#"))

    def fired_times() -> list[str]:
        return sorted(pk.split("#")[2] for pk in set(records(rt, "tick#daily#")) - before)

    # When the clock jumps three days ahead
    end = start + timedelta(days=3)
    rt.clock.set(end)
    rt.wait_idle(timeout=30)
    # Then each 03:00 in between fired exactly once
    expected = [rfc3339(start.replace(hour=3) + timedelta(days=d)) for d in (1, 2, 3)]
    assert fired_times() == expected
    # and setting the clock back, then forward again over the same range, fires nothing again
    rt.clock.set(start)
    rt.wait_idle(timeout=30)
    rt.clock.set(end - timedelta(hours=1))
    rt.wait_idle(timeout=30)
    assert fired_times() == expected


def test_time_never_lived_through_fires_as_the_clock_passes_it(rt: LocalRuntime) -> None:
    # Given the two days before the runtime started, which no schedule has lived through yet
    start = parse_time(START) - timedelta(days=2)
    rt.clock.set(start)
    rt.wait_idle(timeout=30)
    before = set(records(rt, "tick#daily#"))

    def fired_times() -> list[str]:
        return sorted(pk.split("#")[2] for pk in set(records(rt, "tick#daily#")) - before)

    # When the clock runs through them
    rt.clock.set(parse_time(START))
    rt.wait_idle(timeout=30)
    # Then their occurrences fire, once
    assert fired_times() == ["2026-11-02T03:00:00Z", "2026-11-03T03:00:00Z"]
    rt.clock.set(start)
    rt.clock.set(parse_time(START))
    rt.wait_idle(timeout=30)
    assert fired_times() == ["2026-11-02T03:00:00Z", "2026-11-03T03:00:00Z"]
    rt.clock.set(rt.scheduler.high_water)


def test_schedule_input_gets_the_scheduler_context_attributes(rt: LocalRuntime) -> None:
    base = max(rt.clock.now(), rt.scheduler.high_water)
    sixth = (base.replace(day=1, hour=0, minute=0, second=0, microsecond=0) + timedelta(days=40)).replace(day=6)
    rt.clock.set(sixth + timedelta(minutes=5))
    rt.wait_idle(timeout=30)
    (event,) = records(rt, f"tick#close#{rfc3339(sixth)}#").values()
    assert event == {
        "kind": "close",
        "at": rfc3339(sixth),
        "attempt": "1",
        "arn": "arn:aws:scheduler:us-east-1:123456789012:schedule/default/TickFunctionClose",
    }


def test_schedules_are_listed_and_run_manually_at_the_local_clock(rt: LocalRuntime) -> None:
    listed = {s["name"]: s for s in call(rt, "GET", "/_local/schedules").json()["schedules"]}
    assert set(listed) == {"fixture-daily-local", "TickFunctionClose"}
    daily = listed["fixture-daily-local"]
    assert daily["expression"] == "cron(0 3 * * ? *)" and daily["alias"] == "TickFunction.Daily"
    assert parse_time(daily["next_fire"]).hour == 3 and parse_time(daily["next_fire"]) > rt.clock.now()
    moment = advance(rt, timedelta(hours=2)).replace(second=17, microsecond=0)
    rt.clock.set(moment)
    run = call(rt, "POST", "/_local/schedules/fixture-daily-local/run")
    assert run.status == 200 and run.json()["status"] == "succeeded"
    scheduled = parse_time(run.json()["scheduled_time"])
    assert 0 <= (scheduled - moment).total_seconds() < 10
    (event,) = records(rt, f"tick#daily#{rfc3339(scheduled)}#").values()
    assert event["source"] == "aws.scheduler" and event["detail-type"] == "Scheduled Event"
    assert event["resources"] == ["arn:aws:scheduler:us-east-1:123456789012:schedule/default/fixture-daily-local"]
    by_alias = call(rt, "POST", "/_local/schedules/TickFunction.Close/run")
    assert by_alias.status == 200 and by_alias.json()["schedule"] == "TickFunctionClose"
    missing = call(rt, "POST", "/_local/schedules/nope/run")
    assert missing.status == 404 and missing.json()["error"]["code"] == "not_found"


# -------------------------------------------------------------------------------- /_local/* and docs
def test_clock_endpoints(rt: LocalRuntime) -> None:
    target = rfc3339(max(rt.clock.now(), rt.scheduler.high_water) + timedelta(days=2))
    assert call(rt, "POST", "/_local/clock", body={"now": target}).json() == {"now": target}
    now = call(rt, "GET", "/_local/clock").json()["now"]
    assert 0 <= (parse_time(now) - parse_time(target)).total_seconds() < 10
    malformed = call(rt, "POST", "/_local/clock", body="{not json", headers={"Content-Type": "application/json"})
    assert malformed.status == 400 and malformed.json()["error"]["code"] == "malformed_json"
    for bad in ({"now": "yesterday"}, {"when": target}, {"now": 5}):
        invalid = call(rt, "POST", "/_local/clock", body=bad)
        assert invalid.status == 422 and invalid.json()["error"]["details"][0]["field"] == "now"


def test_idle_answers_once_queued_and_s3_work_is_done(rt: LocalRuntime) -> None:
    tag = uuid.uuid4().hex[:8]
    # Given messages queued by an API call and a file dropped in S3
    messages = [{"id": f"idle-{tag}-{i}"} for i in range(12)]
    assert call(rt, "POST", "/actions/enqueue", body={"messages": messages}).status == 202
    key = f"in/idle-{tag}.csv"
    rt.client("s3").put_object(Bucket=rt.resource("UploadsBucket"), Key=key, Body=b"x")
    # When the client asks the runtime to be idle
    reply = call(rt, "POST", "/_local/idle")
    # Then, as soon as it answers, every message and the S3 event have been processed
    assert reply.status == 200 and reply.json()["idle"] is True and reply.json()["waited_ms"] >= 0
    assert len(records(rt, f"sqs#idle-{tag}-")) == 12
    assert [pk for pk in records(rt, "s3#") if pk.startswith(f"s3#{key}#")]


def test_setting_the_clock_with_wait_answers_once_the_schedules_it_triggered_are_done(rt: LocalRuntime) -> None:
    base = max(rt.clock.now(), rt.scheduler.high_water)
    start = (base + timedelta(days=1)).replace(hour=12, minute=0, second=0, microsecond=0)
    assert call(rt, "POST", "/_local/clock", body={"now": rfc3339(start), "wait": True}).status == 200
    before = set(records(rt, "tick#daily#"))
    # When the clock is moved two days ahead and told to wait
    end = start + timedelta(days=2)
    reply = call(rt, "POST", "/_local/clock", body={"now": rfc3339(end), "wait": True, "timeout": 60})
    # Then both 03:00 runs have completed by the time it answers
    assert reply.status == 200 and reply.json()["now"] == rfc3339(end) and reply.json()["idle"] is True
    fired = sorted(pk.split("#")[2] for pk in set(records(rt, "tick#daily#")) - before)
    assert fired == [rfc3339(start.replace(hour=3) + timedelta(days=d)) for d in (1, 2)]


def test_idle_names_what_is_still_busy_when_its_time_runs_out(rt: LocalRuntime) -> None:
    # Given a message that fails and is retried after a back-off
    failing = {"id": f"idle-fail-{uuid.uuid4().hex[:8]}", "fail": True}
    assert call(rt, "POST", "/actions/enqueue", body={"messages": [failing]}).status == 202
    time.sleep(0.5)
    # When the client waits less than the back-off
    reply = call(rt, "POST", "/_local/idle", body={"timeout": 0.2})
    # Then it is told what is still busy
    assert reply.status == 504
    assert reply.json()["error"]["code"] == "still_busy" and "fixture-work-local" in reply.json()["error"]["details"]
    # and once the message has gone to its dead-letter queue, the runtime is idle
    assert call(rt, "POST", "/_local/idle", body={"timeout": 60}).status == 200


def test_idle_and_clock_options_are_validated(rt: LocalRuntime) -> None:
    for body in ({"timeout": "soon"}, {"timeout": 0}, {"timeout": 3600}, {"timeout": True}):
        reply = call(rt, "POST", "/_local/idle", body=body)
        assert reply.status == 422 and reply.json()["error"]["details"][0]["field"] == "timeout"
    assert call(rt, "POST", "/_local/idle", body="[1]", headers={"Content-Type": "application/json"}).status == 422
    now = rfc3339(max(rt.clock.now(), rt.scheduler.high_water))
    reply = call(rt, "POST", "/_local/clock", body={"now": now, "wait": "yes"})
    assert reply.status == 422 and reply.json()["error"]["details"][0]["field"] == "wait"


def test_outbox_shows_emails_sent_through_ses(rt: LocalRuntime) -> None:
    to = f"someone-{uuid.uuid4().hex[:8]}@example.com"
    assert call(rt, "POST", "/actions/email", body={"to": to}).status == 200
    emails = [e for e in call(rt, "GET", "/_local/outbox").json()["emails"] if e["to"] == [to]]
    assert len(emails) == 1
    email = emails[0]
    assert email["subject"] == "Activate your account" and email["source"] == "sender@fixture.example"
    assert email["body"] == f"Open {rt.api_url}/activate?token=t0k"
    assert abs((parse_time(email["sent_at"]) - rt.clock.now()).total_seconds()) < 10


def test_docs_and_openapi(rt: LocalRuntime) -> None:
    page = call(rt, "GET", "/docs")
    assert page.status == 200 and b"SwaggerUIBundle" in page.body and b"/openapi.json" in page.body
    assert call(rt, "GET", "/docs/swagger-ui-bundle.min.js").status == 200
    document = call(rt, "GET", "/openapi.json")
    assert document.status == 200 and document.json()["info"]["title"] == "Fixture API"
    unknown = call(rt, "GET", "/_local/nothing")
    assert unknown.status == 404 and unknown.json()["error"]["code"] == "not_found"


# ---------------------------------------------------------------------------------- moto speed-ups
@pytest.mark.parametrize("method", ["TRACE", "PROPFIND", "FOO"])
def test_unknown_methods_are_405_with_the_error_body_and_the_connection_stays_usable(
    rt: LocalRuntime, method: str
) -> None:
    url = urlsplit(rt.api_url)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    for path in ("/echo/x", "/_local/clock"):
        connection.request(method, path, body=b"ignored", headers={"Content-Length": "7"})
        response = connection.getresponse()
        body = json.loads(response.read())
        assert response.status == 405, body
        assert body["error"]["code"] == "method_not_allowed" and method in body["error"]["message"]
        assert set(body["error"]) == {"code", "message", "details"}
        assert "GET" in (response.getheader("Allow") or "")
    connection.request("GET", "/_local/clock")
    assert connection.getresponse().status == 200
    connection.close()


def test_idle_keep_alive_connections_are_closed_quietly(
    rt: LocalRuntime,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    from local_runtime.gateway import _Handler

    # Given both servers closing idle connections after half a second
    monkeypatch.setattr(_Handler, "timeout", 0.5)
    monkeypatch.setattr(rt.moto._server._server.RequestHandlerClass, "timeout", 0.5)
    caplog.set_level(logging.DEBUG, logger="local_runtime")
    caplog.set_level(logging.DEBUG, logger="werkzeug")
    # When a client makes a request on each and then leaves the connection idle
    idle = []
    for base in (rt.api_url, rt.aws_endpoint):
        url = urlsplit(base)
        connection = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
        connection.request("GET", "/_local/health" if base == rt.api_url else "/moto-api/")
        connection.getresponse().read()
        idle.append(connection)
    time.sleep(1.5)
    # Then the time-outs are logged at DEBUG, nothing at ERROR, nothing on stderr
    timed_out = [r for r in caplog.records if "timed out" in r.getMessage()]
    assert len(timed_out) >= 2 and {r.levelno for r in timed_out} == {logging.DEBUG}
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert "timed out" not in capfd.readouterr().err
    for connection in idle:
        connection.close()


@pytest.mark.parametrize("variable", ["AUDIENS_API_PORT", "AUDIENS_AWS_PORT"])
def test_a_busy_port_is_named_when_the_runtime_cannot_start(variable: str) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        env = {**os.environ, "PYTHONPATH": f"{ROOT / 'infra'}", "AUDIENS_API_PORT": "0", "AUDIENS_AWS_PORT": "0"}
        env[variable] = str(port)
        done = subprocess.run(
            [sys.executable, "-m", "local_runtime", "--template", str(FIXTURE), "--no-state"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert done.returncode == 1
    assert f"127.0.0.1:{port} is already in use (set {variable})" in done.stderr, done.stderr


def test_fast_dynamodb_responses_equal_motos_own_serializer(rt: LocalRuntime) -> None:
    """The runtime dumps DynamoDB data-plane results directly; moto's serializer must give the same reply."""
    from moto.core.responses import BaseResponse

    fast = BaseResponse.serialized
    original = fast.__wrapped__  # type: ignore[attr-defined]
    compared: list[tuple[str, bool]] = []

    def both(self: Any, action_result: Any) -> Any:
        mine, theirs = fast(self, action_result), original(self, action_result)
        if self.boto3_service_name == "dynamodb":
            same = (mine[0], json.loads(mine[2] or "{}")) == (theirs[0], json.loads(theirs[2] or "{}"))
            compared.append((self._get_action(), same and mine[1]["Content-Type"] == theirs[1]["Content-Type"]))
        return theirs

    ddb = rt.client("dynamodb")
    table = f"scratch-{uuid.uuid4().hex[:8]}"
    ddb.create_table(
        TableName=table,
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
    )
    item = {
        "pk": {"S": "a"},
        "n": {"N": "1.50"},
        "b": {"B": b"\x00\xff"},
        "bs": {"BS": [b"x"]},
        "ss": {"SS": ["a", "b"]},
        "bool": {"BOOL": True},
        "nul": {"NULL": True},
        "l": {"L": [{"S": "x"}, {"M": {"k": {"N": "3"}}}]},
    }
    BaseResponse.serialized = both  # type: ignore[method-assign]
    try:
        ddb.put_item(TableName=table, Item=item, ReturnConsumedCapacity="TOTAL")
        ddb.put_item(TableName=table, Item={**item, "pk": {"S": "b"}})
        ddb.put_item(TableName=table, Item={**item, "pk": {"S": "b"}}, ReturnValues="ALL_OLD")
        assert ddb.get_item(TableName=table, Key={"pk": {"S": "a"}})["Item"]["b"] == {"B": b"\x00\xff"}
        ddb.get_item(TableName=table, Key={"pk": {"S": "missing"}})
        ddb.update_item(
            TableName=table,
            Key={"pk": {"S": "a"}},
            UpdateExpression="SET x = :v ADD c :one",
            ExpressionAttributeValues={":v": {"S": "y"}, ":one": {"N": "1"}},
            ReturnValues="ALL_NEW",
        )
        ddb.query(TableName=table, KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": "a"}})
        ddb.scan(TableName=table, Limit=1)
        ddb.scan(TableName=table, Select="COUNT")
        ddb.batch_get_item(RequestItems={table: {"Keys": [{"pk": {"S": "a"}}, {"pk": {"S": "b"}}]}})
        ddb.batch_write_item(RequestItems={table: [{"PutRequest": {"Item": {"pk": {"S": "c"}}}}]})
        ddb.transact_write_items(TransactItems=[{"Put": {"TableName": table, "Item": {"pk": {"S": "d"}}}}])
        ddb.transact_get_items(TransactItems=[{"Get": {"TableName": table, "Key": {"pk": {"S": "a"}}}}])
        ddb.delete_item(TableName=table, Key={"pk": {"S": "d"}}, ReturnValues="ALL_OLD")
        with pytest.raises(ddb.exceptions.ConditionalCheckFailedException):
            ddb.put_item(TableName=table, Item=item, ConditionExpression="attribute_not_exists(pk)")
    finally:
        BaseResponse.serialized = fast  # type: ignore[method-assign]
    assert {action for action, _ in compared} == FAST_DYNAMODB_OPERATIONS
    assert [action for action, same in compared if not same] == []


def test_index_queries_answer_as_motos_own(rt: LocalRuntime) -> None:
    """The runtime queries an index over its projected entries; moto's own query must give the same pages."""
    from moto.dynamodb.models.table import Table

    from local_runtime.moto_patches import index_partition_query

    ddb = rt.client("dynamodb")
    table = f"scratch-{uuid.uuid4().hex[:8]}"
    keys = [{"AttributeName": "gk", "KeyType": "HASH"}, {"AttributeName": "gs", "KeyType": "RANGE"}]
    ddb.create_table(
        TableName=table,
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"} for a in ("pk", "sk", "gk", "gs")],
        GlobalSecondaryIndexes=[
            {"IndexName": "keys", "KeySchema": keys, "Projection": {"ProjectionType": "KEYS_ONLY"}},
            {
                "IndexName": "incl",
                "KeySchema": keys,
                "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["n"]},
            },
            {"IndexName": "all", "KeySchema": keys[:1], "Projection": {"ProjectionType": "ALL"}},
        ],
    )
    for i in range(40):
        item = {"pk": {"S": f"p{i % 4}"}, "sk": {"S": f"s{i:02d}"}, "n": {"N": str(i)}, "b": {"B": bytes(300)}}
        if i % 7:  # some items are not in the indexes
            item["gk"] = {"S": "AB"[i % 2]}
        if i % 5:
            item["gs"] = {"S": f"x{i % 3}#{i:02d}"}
        ddb.put_item(TableName=table, Item=item)
    queries: list[dict[str, Any]] = []
    for index in ("keys", "incl", "all"):
        base = {"TableName": table, "IndexName": index, "ExpressionAttributeValues": {":g": {"S": "A"}}}
        queries += [
            {**base, "KeyConditionExpression": "gk = :g"},
            {**base, "KeyConditionExpression": "gk = :g", "ScanIndexForward": False, "Limit": 3},
            {**base, "KeyConditionExpression": "gk = :g", "ProjectionExpression": "sk, gs", "Limit": 4},
            {**base, "KeyConditionExpression": "gk = :g", "Select": "COUNT"},
            {**base, "KeyConditionExpression": "gk = :g", "ExpressionAttributeValues": {":g": {"S": "missing"}}},
        ]
        if index != "all":
            ranged = {":g": {"S": "B"}, ":x": {"S": "x1"}}
            queries.append(
                {
                    **base,
                    "KeyConditionExpression": "gk = :g AND begins_with(gs, :x)",
                    "ExpressionAttributeValues": ranged,
                }
            )
        if index != "keys":
            filtered = {":g": {"S": "A"}, ":n": {"N": "20"}}
            queries.append(
                {
                    **base,
                    "KeyConditionExpression": "gk = :g",
                    "FilterExpression": "n > :n",
                    "ExpressionAttributeValues": filtered,
                }
            )
    queries.append(
        {"TableName": table, "KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": "p1"}}}
    )

    def pages() -> list[list[dict[str, Any]]]:
        answers = []
        for query in queries:
            answer, start = [], {}
            while True:
                reply = ddb.query(**query, **start)
                reply.pop("ResponseMetadata")
                answer.append(reply)
                if "LastEvaluatedKey" not in reply:
                    break
                start = {"ExclusiveStartKey": reply["LastEvaluatedKey"]}
            answers.append(answer)
        return answers

    runtime = pages()
    Table.query.undo()  # type: ignore[attr-defined]
    try:
        motos = pages()
    finally:
        index_partition_query()
    assert runtime == motos
    assert len(runtime[0]) == 1 and len(runtime[1]) > 2  # one whole page; pages of three
    assert "b" not in runtime[0][0]["Items"][0] and "n" in runtime[6][0]["Items"][0]


def test_workers_exit_when_the_runtime_is_killed() -> None:
    script = (
        f"import sys, time; sys.path.insert(0, {str(ROOT / 'infra')!r}); from local_runtime import LocalRuntime\n"
        f"rt = LocalRuntime({str(FIXTURE)!r}).start(); print('up', flush=True); time.sleep(60)"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    try:
        assert process.stdout is not None and process.stdout.readline().strip() == "up"
        workers = _children(process.pid)
        assert len(workers) >= 4  # echo x1, authorizer x2, slow x1: the API's functions start eagerly
    finally:
        process.kill()
        process.wait(10)
    wait_for("the orphaned workers to exit", lambda: not [p for p in workers if Path(f"/proc/{p}").exists()], 5)


# -------------------------------------------------------------------------------------- the command
def _children(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.add(int(entry.name))
    return found


def test_python_m_local_runtime_on_the_real_template_starts_prints_and_stops_cleanly(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'infra'}", "AUDIENS_API_PORT": "0", "AUDIENS_AWS_PORT": "0"}
    env["AUDIENS_STATE_DIR"] = str(tmp_path / "state")
    env.pop("AUDIENS_OPERATOR_KEY", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "local_runtime"],
        cwd=ROOT,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert process.stdout is not None
    workers: set[int] = set()
    try:
        lines: list[str] = []
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not any("Press Ctrl-C to stop" in line for line in lines):
            lines.append(process.stdout.readline())
        output = "".join(lines)
        assert "Press Ctrl-C to stop" in output, output
        api_url = re.search(r"API\s+(http://127\.0\.0\.1:\d+)", output).group(1)  # type: ignore[union-attr]
        assert (
            "audiens-accounts-local" in output and "/docs" in output and "aud_operator_local_development_key" in output
        )
        assert f"State            {tmp_path / 'state'}  (empty: a fresh start)" in output
        assert "`make reset` clears it" in output
        ready = float(re.search(r"ready in ([\d.]+) s", output).group(1))  # type: ignore[union-attr]
        assert ready < ready_limit_s()
        url = urlsplit(api_url)
        connection = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
        connection.request("GET", "/_local/schedules")
        schedules = json.loads(connection.getresponse().read())["schedules"]
        assert "audiens-daily-maintenance-local" in {s["name"] for s in schedules}
        workers = _children(process.pid)
        assert workers, "the API's functions run in worker processes"
    finally:
        process.send_signal(signal.SIGINT)
        try:
            code = process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
    assert code == 0
    time.sleep(0.2)
    assert not [pid for pid in workers if Path(f"/proc/{pid}").exists()], "a worker outlived the runtime"
    assert (tmp_path / "state" / "snapshot" / "state.json").is_file(), "the state is saved at stop"
