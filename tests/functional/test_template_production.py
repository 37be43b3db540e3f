"""Rules that make the template safe and operable on AWS; each test fails when its rule is undone.

moto and the local runtime accept what AWS would run badly (a second API stage, a write grant on every
bucket, a silent failure), so these rules are checked on the template itself.
"""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from typing import Any

import pytest

from tests.support.template import ROOT, functions, load, resources, translated

ASYNC_EVENT_TYPES = {"EventBridgeRule", "ScheduleV2", "Schedule", "S3", "SNS", "CloudWatchEvent"}
WRITE_ACTION = re.compile(r"^(\*|[a-z0-9-]+:(\*|Put.*|Delete.*|Update.*|Create.*|Send.*|Write.*|BatchWrite.*))$")


def _statements() -> list[tuple[str, dict[str, Any]]]:
    out = []
    for name, fn in functions().items():
        for policy in fn["Properties"].get("Policies", []):
            if isinstance(policy, dict) and "Statement" in policy:
                out += [(name, st) for st in policy["Statement"]]
    for name, role in resources("AWS::IAM::Role").items():
        for policy in role["Properties"].get("Policies", []):
            out += [(name, st) for st in policy["PolicyDocument"]["Statement"]]
    return out


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _text(value: Any) -> str:
    """A resource as text: a plain string or the template string of an Fn::Sub."""
    if isinstance(value, dict) and "Fn::Sub" in value:
        sub = value["Fn::Sub"]
        return str(sub[0] if isinstance(sub, list) else sub)
    return json.dumps(value) if not isinstance(value, str) else value


def test_no_write_grant_on_every_resource_or_every_bucket() -> None:
    for name, statement in _statements():
        if statement.get("Effect") != "Allow":
            continue
        actions = [str(a) for a in _as_list(statement["Action"])]
        for resource in map(_text, _as_list(statement.get("Resource", "*"))):
            assert resource != "*", f"{name}: {actions} on Resource '*'"
            assert not re.search(r"s3:::\*", resource), f"{name}: {actions} on every bucket ({resource})"
            if any(WRITE_ACTION.match(a) for a in actions):
                assert not resource.endswith(":*") or "log-group" in resource, (name, actions, resource)


def test_no_function_may_write_to_s3_outside_the_platform_buckets() -> None:
    for name, statement in _statements():
        actions = [str(a) for a in _as_list(statement["Action"])]
        if statement.get("Effect") == "Allow" and any(a.startswith("s3:") for a in actions):
            for resource in map(_text, _as_list(statement["Resource"])):
                assert "${" in resource or resource.startswith("{"), (name, resource)  # a bucket of the template


def test_assuming_customer_roles_excludes_the_platform_account() -> None:
    grants: dict[str, dict[str, bool]] = {}
    for name, statement in _statements():
        if "sts:AssumeRole" in _as_list(statement["Action"]):
            resource = _text(statement["Resource"])
            effect = grants.setdefault(name, {"allow": False, "deny_own": False})
            if statement["Effect"] == "Allow":
                assert resource.endswith(":role/*"), resource
                effect["allow"] = True
            elif resource == "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/*":
                effect["deny_own"] = True
    assert set(grants) == {"ApiFunction", "ChannelPushFunction"}
    assert all(g["allow"] and g["deny_own"] for g in grants.values()), grants


def test_the_api_has_one_stage_with_access_logs_and_the_function_times_out_before_the_gateway() -> None:
    out = translated()["Resources"]
    stages = [r for r in out.values() if r["Type"] == "AWS::ApiGateway::Stage"]
    assert len(stages) == 1
    deployments = [r for r in out.values() if r["Type"] == "AWS::ApiGateway::Deployment"]
    # a Deployment with a StageName is SAM's implicit, unthrottled "Stage" stage (Globals.Api.OpenApiVersion)
    assert deployments and all("StageName" not in d["Properties"] for d in deployments), deployments
    assert stages[0]["Properties"]["StageName"] == {"Ref": "Stage"}
    assert "DestinationArn" in stages[0]["Properties"]["AccessLogSetting"]
    assert out["Api"]["DependsOn"] == "ApiGatewayAccount"  # the account's CloudWatch role comes first
    assert functions()["ApiFunction"]["Properties"]["Timeout"] < 29


def _arn_target(value: Any) -> str:
    return str(value["Fn::GetAtt"][0]) if isinstance(value, dict) and "Fn::GetAtt" in value else str(value)


def dead_letter_queues() -> set[str]:
    """Every queue the template uses as a dead-letter queue: redrive targets, function and event DLQs."""
    found = set()
    for queue in resources("AWS::SQS::Queue").values():
        redrive = queue["Properties"].get("RedrivePolicy")
        if redrive:
            found.add(_arn_target(redrive["deadLetterTargetArn"]))
    for fn in functions().values():
        props = fn["Properties"]
        if "DeadLetterQueue" in props:
            found.add(_arn_target(props["DeadLetterQueue"]["TargetArn"]))
        for event in (props.get("Events") or {}).values():
            config = event["Properties"].get("DeadLetterConfig")
            if config:
                assert "Arn" in config, "a DLQ SAM generates has no alarm: name the queue"
                found.add(_arn_target(config["Arn"]))
    return found


def _alarmed(dimension: str, value_of: Any) -> set[str]:
    out = set()
    for alarm in resources("AWS::CloudWatch::Alarm").values():
        props = alarm["Properties"]
        assert props["AlarmActions"] == [{"Ref": "AlarmTopic"}]
        dims = list(props.get("Dimensions", []))
        for metric in props.get("Metrics", []):
            dims += metric.get("MetricStat", {}).get("Metric", {}).get("Dimensions", [])
        out |= {value_of(d["Value"]) for d in dims if d["Name"] == dimension}
    return out


def test_every_dead_letter_queue_and_every_function_has_an_alarm() -> None:
    dlqs = dead_letter_queues()
    assert len(dlqs) >= 8
    assert dlqs <= _alarmed("QueueName", lambda v: v["Fn::GetAtt"][0])
    assert set(functions()) <= _alarmed("FunctionName", lambda v: v["Ref"])
    names = set(resources("AWS::CloudWatch::Alarm"))
    assert {"ApiServerErrorsAlarm", "CloseNotCompletedAlarm"} <= names
    assert resources("AWS::SNS::Subscription")["AlarmEmailSubscription"]["Condition"] == "HasAlarmEmail"


def test_every_asynchronously_invoked_function_keeps_its_failures() -> None:
    for name, fn in functions().items():
        events = (fn["Properties"].get("Events") or {}).values()
        if any(e["Type"] in ASYNC_EVENT_TYPES for e in events):
            assert "DeadLetterQueue" in fn["Properties"], f"{name}: a crash after delivery would be lost"
            for event in events:
                assert "DeadLetterConfig" in event["Properties"], f"{name}: an undeliverable event would be lost"


def test_every_function_has_reserved_concurrency_and_the_runtime_of_the_venv() -> None:
    runtime = load()["Globals"]["Function"]["Runtime"]
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(rf"^PYTHON_VERSION := {runtime.removeprefix('python')}$", makefile, re.M)
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["tool"]["mypy"]["python_version"] == runtime.removeprefix("python")
    layer = resources("AWS::Serverless::LayerVersion")["CommonLayer"]
    assert layer["Metadata"]["BuildMethod"] == runtime and layer["Properties"]["CompatibleRuntimes"] == [runtime]
    total = 0
    for name, fn in functions().items():
        assert "Runtime" not in fn["Properties"], name
        total += int(fn["Properties"]["ReservedConcurrentExecutions"])
    assert total <= 900, "AWS keeps 100 of the default 1,000 unreserved"


PROD_RETAIN = {"Fn::If": ["IsProd", "Retain", "Delete"]}


@pytest.mark.parametrize("name", [*sorted(resources("AWS::DynamoDB::Table")), "UsageBucket"])
def test_stateful_resources_are_retained_and_protected_in_prod(name: str) -> None:
    resource = resources()[name]
    assert resource["DeletionPolicy"] == PROD_RETAIN and resource["UpdateReplacePolicy"] == PROD_RETAIN
    props = resource["Properties"]
    if resource["Type"] == "AWS::DynamoDB::Table":
        assert props["DeletionProtectionEnabled"] == {"Fn::If": ["IsProd", True, False]}
        assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    else:
        assert props["VersioningConfiguration"] == {"Status": "Enabled"}


def test_only_the_console_may_put_usage_files_from_a_browser_and_no_other_bucket_is_open_to_one() -> None:
    rules = resources()["UsageBucket"]["Properties"]["CorsConfiguration"]["CorsRules"]
    assert rules == [
        {
            "AllowedOrigins": [{"Ref": "PublicBaseUrl"}],
            "AllowedMethods": ["GET", "PUT"],
            "AllowedHeaders": ["content-type"],
            "MaxAge": 3600,
        }
    ]
    others = [
        n
        for n, r in resources("AWS::S3::Bucket").items()
        if n != "UsageBucket" and "CorsConfiguration" in r["Properties"]
    ]
    assert others == []


def test_usage_ingest_ignores_the_apis_own_downloads() -> None:
    event = functions()["UsageIngestFunction"]["Properties"]["Events"]["UsageFileCreated"]
    assert event["Properties"]["Pattern"]["detail"]["object"] == {"key": [{"anything-but": {"prefix": "downloads/"}}]}


def test_email_is_sent_through_the_configuration_set_by_the_verified_identity_only() -> None:
    fn = functions()["EmailWorkerFunction"]["Properties"]
    assert "SESCrudPolicy" not in json.dumps(fn["Policies"])
    (ses,) = [st for _, st in _statements() if "ses:SendEmail" in _as_list(st["Action"])]
    assert ses["Condition"] == {"StringEquals": {"ses:FromAddress": {"Ref": "SenderEmail"}}}
    config_set = resources("AWS::SES::ConfigurationSet")["EmailConfigurationSet"]["Properties"]
    assert config_set["SuppressionOptions"] == {"SuppressedReasons": ["BOUNCE", "COMPLAINT"]}
    assert fn["Environment"]["Variables"]["SES_CONFIGURATION_SET"] == config_set["Name"]


def test_every_checkov_skip_is_listed_once_with_its_reason() -> None:
    lines = (ROOT / ".checkov.yaml").read_text().splitlines()
    start = lines.index("skip-check:")
    skips: list[str] = []
    reason = False
    for line in lines[start + 1 :]:
        stripped = line.strip()
        if stripped.startswith("#"):
            reason = True
        elif stripped.startswith("- CKV"):
            assert reason, f"{stripped} has no reason above it"
            skips.append(stripped[2:])
        elif stripped:
            break
        if not stripped:
            reason = False
    assert skips and len(skips) == len(set(skips))
    assert "skip_check" not in (ROOT / "template.yaml").read_text(), "skips belong in .checkov.yaml, not inline"


def _overrides(stage_config: dict[str, Any]) -> dict[str, str]:
    text = stage_config["deploy"]["parameters"]["parameter_overrides"]
    return dict(pair.split("=", 1) for pair in shlex.split(text))  # SAM reads the overrides shell-quoted


def test_every_stage_sets_every_parameter_but_the_operator_key_hash() -> None:
    config = tomllib.loads((ROOT / "samconfig.toml").read_text())
    parameters = set(load()["Parameters"]) - {"OperatorKeyHash"}
    for stage in ("dev", "staging", "prod"):
        overrides = _overrides(config[stage])
        assert set(overrides) == parameters, (stage, parameters ^ set(overrides))
        assert overrides["Stage"] == stage and config[stage]["deploy"]["parameters"]["stack_name"] == f"audiens-{stage}"
        allowed = load()["Parameters"]["LogRetentionDays"]["AllowedValues"]
        assert int(overrides["LogRetentionDays"]) in allowed
    assert _overrides(config["prod"])["LogRetentionDays"] == "365"
    assert "OperatorKeyHash=" not in (ROOT / "samconfig.toml").read_text()  # given at deploy time, never stored


def test_the_dashboard_is_json_and_shows_every_function_dlq_and_business_metric() -> None:
    body = resources("AWS::CloudWatch::Dashboard")["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    names = set(re.findall(r"\$\{([A-Za-z:.]+)\}", body))
    dashboard = json.loads(re.sub(r"\$\{([A-Za-z:.]+)\}", lambda m: m.group(1), body))
    assert len(dashboard["widgets"]) >= 6
    assert set(functions()) <= names
    assert {f"{q}.QueueName" for q in dead_letter_queues()} <= names
    code = "".join(p.read_text() for p in (ROOT / "functions").glob("*/app.py"))
    emitted = set(re.findall(r'count\(f?"([A-Za-z]+)', code)) - {"UsageFiles"}
    emitted |= {"UsageFilesAccepted", "UsageFilesRejected", "UsageFilesDuplicate"}
    assert emitted <= {m for w in dashboard["widgets"] for metric in w["properties"]["metrics"] for m in metric}
