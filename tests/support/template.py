"""The SAM template as data, for tests that build resources from it or check code against it."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from cfnlint.decode import cfn_yaml

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"

# CloudFormation types moto can create; functions, the API and schedules are served by the tests/runtime.
PLAIN_TYPES = {"AWS::DynamoDB::Table", "AWS::SQS::Queue", "AWS::S3::Bucket", "AWS::SNS::Topic"}


@cache
def load() -> dict[str, Any]:
    return json.loads(json.dumps(cfn_yaml.loads(TEMPLATE.read_text()), default=str))


def translated() -> dict[str, Any]:
    """The template after the SAM transform, offline (local CodeUris stand as S3 artifacts)."""
    import copy

    from samtranslator.translator.transform import transform

    from tests.support.environ import environ_replaced

    class NoIam:
        def load(self) -> dict[str, str]:
            return {}

    tpl: dict[str, Any] = copy.deepcopy(load())
    for res in tpl["Resources"].values():
        props = res.get("Properties", {})
        for field in ("CodeUri", "ContentUri"):
            if isinstance(props.get(field), str):
                props[field] = f"s3://audiens-artifacts/{props[field].strip('/')}.zip"
    with environ_replaced((), {"AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1"}):
        return dict(transform(tpl, {}, NoIam()))


def resources(kind: str | None = None) -> dict[str, dict[str, Any]]:
    items = load()["Resources"].items()
    return {name: res for name, res in items if kind is None or res["Type"] == kind}


def functions() -> dict[str, dict[str, Any]]:
    return resources("AWS::Serverless::Function")


def plain_stack(stage: str = "test") -> dict[str, Any]:
    """The template's plain resources as a stack body moto's CloudFormation can create."""
    tpl = load()
    params = {k: v for k, v in tpl.get("Parameters", {}).items()}
    body = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Parameters": params,
        "Conditions": tpl.get("Conditions", {}),
        "Resources": {k: v for k, v in tpl["Resources"].items() if v["Type"] in PLAIN_TYPES},
    }
    return body
