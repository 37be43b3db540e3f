"""Moto resources created from template.yaml (DESIGN §6: build the mocks from the template itself)."""

from __future__ import annotations

import json
from typing import Any

import boto3

from tests.support.template import plain_stack

REGION = "us-east-1"
STACK = "audiens-test"


def create_stack(stage: str = "test") -> dict[str, str]:
    """Create the plain resources in the active moto mock; returns logical id → physical id."""
    cfn = boto3.client("cloudformation", region_name=REGION)
    cfn.create_stack(
        StackName=STACK,
        TemplateBody=json.dumps(plain_stack()),
        Parameters=[{"ParameterKey": "Stage", "ParameterValue": stage}],
    )
    out: dict[str, str] = {}
    for res in cfn.describe_stack_resources(StackName=STACK)["StackResources"]:
        out[res["LogicalResourceId"]] = res["PhysicalResourceId"]
    return out


def queue_url(physical: str) -> str:
    if physical.startswith("http"):
        return physical
    return str(boto3.client("sqs", region_name=REGION).get_queue_url(QueueName=physical)["QueueUrl"])


def drain(queue: str) -> list[dict[str, Any]]:
    sqs = boto3.client("sqs", region_name=REGION)
    url = queue_url(queue)
    messages: list[dict[str, Any]] = []
    while True:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"]).get("Messages", [])
        if not got:
            return messages
        messages.extend(got)
