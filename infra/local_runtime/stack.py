"""The template's plain resources as a CloudFormation stack in moto, and every resource's Ref/GetAtt.

moto's CloudFormation creates the data resources (tables, queues, buckets, log groups, topics, ...).
Serverless functions, APIs, layers, IAM, Lambda and Scheduler resources are not created there: the
runtime plays them. What moto's CloudFormation ignores but the system relies on (S3 notification
configuration, DynamoDB TTL, bucket CORS and versioning) is applied with boto3 afterwards.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .intrinsics import IntrinsicError, Resolver
from .template import Template

log = logging.getLogger("local_runtime")

# Types handed to moto's CloudFormation: the ones moto implements and this kind of app uses.
STACK_TYPES = frozenset(
    {
        "AWS::DynamoDB::Table",
        "AWS::SQS::Queue",
        "AWS::S3::Bucket",
        "AWS::Logs::LogGroup",
        "AWS::SNS::Topic",
        "AWS::Events::EventBus",
        "AWS::Events::Archive",
        "AWS::SSM::Parameter",
        "AWS::KMS::Key",
        "AWS::KMS::Alias",
        "AWS::Kinesis::Stream",
    }
)
# Types the runtime itself plays (no log line when they are left out of the stack).
PLAYED_TYPES = frozenset(
    {
        "AWS::Serverless::Function",
        "AWS::Serverless::Api",
        "AWS::Serverless::LayerVersion",
    }
)


class PhysicalIdPendingError(IntrinsicError):
    pass


def api_id_for(logical_id: str) -> str:
    """A stable, API-Gateway-looking id (10 lowercase alphanumerics) for a REST API."""
    digest = hashlib.sha1(logical_id.encode()).hexdigest()
    return "".join(c if c.isalpha() else "abcdefghij"[int(c)] for c in digest[:10])


class Catalog:
    """Ref and GetAtt values of every resource, consistent with the stack in moto."""

    def __init__(self, template: Template, parameters: dict[str, Any], region: str, account_id: str, stack_name: str):
        self.template = template
        self.region = region
        self.account_id = account_id
        self.stack_name = stack_name
        self.physical: dict[str, str] = {}
        self.resolver = Resolver(
            parameters=parameters,
            conditions=template.conditions,
            mappings=template.mappings,
            region=region,
            account_id=account_id,
            stack_name=stack_name,
            ref=self.ref,
            get_att=self.get_att,
            resource_ids=set(template.resources),
        )
        self.partition = self.resolver.partition

    def resolve(self, value: Any) -> Any:
        return self.resolver.resolve(value)

    def enabled(self, logical_id: str) -> bool:
        condition = self.template.resources[logical_id].get("Condition")
        return condition is None or self.resolver.condition(condition)

    def type_of(self, logical_id: str) -> str:
        return str(self.template.resources[logical_id].get("Type", ""))

    def properties(self, logical_id: str) -> dict[str, Any]:
        return dict(self.template.resources[logical_id].get("Properties") or {})

    def arn(self, service: str, resource: str, *, region: bool = True, account: bool = True) -> str:
        return (
            f"arn:{self.partition}:{service}:{self.region if region else ''}:"
            f"{self.account_id if account else ''}:{resource}"
        )

    # ---------------------------------------------------------------------------------------------
    def function_name(self, logical_id: str) -> str:
        name = self.properties(logical_id).get("FunctionName")
        return str(self.resolve(name)) if name else f"{self.stack_name}-{logical_id}"[:64]

    def ref(self, logical_id: str) -> Any:
        kind = self.type_of(logical_id)
        props = self.properties(logical_id)
        if logical_id in self.physical:
            return self.physical[logical_id]
        if kind in STACK_TYPES:
            raise PhysicalIdPendingError(f"{logical_id} ({kind}) has no physical id until moto has created it")
        if kind in ("AWS::Serverless::Function", "AWS::Lambda::Function"):
            return self.function_name(logical_id)
        if kind in ("AWS::Serverless::Api", "AWS::ApiGateway::RestApi"):
            return api_id_for(logical_id)
        if kind in ("AWS::Serverless::LayerVersion", "AWS::Lambda::LayerVersion"):
            name = self.resolve(props.get("LayerName")) if props.get("LayerName") else logical_id
            return self.arn("lambda", f"layer:{name}:1")
        if kind == "AWS::IAM::Role":
            return str(self.resolve(props["RoleName"])) if props.get("RoleName") else f"{self.stack_name}-{logical_id}"
        if kind == "AWS::Scheduler::Schedule":
            return str(self.resolve(props["Name"])) if props.get("Name") else f"{self.stack_name}-{logical_id}"
        log.debug("Ref %s (%s): no local value, using a made-up name", logical_id, kind)
        return f"{self.stack_name}-{logical_id}"

    def get_att(self, logical_id: str, attribute: str) -> Any:
        kind = self.type_of(logical_id)
        ref = self.ref(logical_id)
        values = self._attributes(kind, logical_id, ref)
        if attribute in values:
            return values[attribute]
        if attribute == "Arn" and str(ref).startswith("arn:"):
            return ref
        raise IntrinsicError(f"Fn::GetAtt {logical_id}.{attribute} ({kind}) is not known to the local runtime")

    def _attributes(self, kind: str, logical_id: str, ref: Any) -> dict[str, Any]:
        """The ``Fn::GetAtt`` attributes the local runtime knows of a resource of this type, by name."""
        queue = str(ref).rstrip("/").rsplit("/", 1)[-1]

        def function() -> dict[str, Any]:
            return {"Arn": self.arn("lambda", f"function:{ref}")}

        def api() -> dict[str, Any]:
            return {"RootResourceId": api_id_for(logical_id + "/")}

        known: dict[str, Callable[[], dict[str, Any]]] = {
            "AWS::DynamoDB::Table": lambda: {
                "Arn": self.arn("dynamodb", f"table/{ref}"),
                "StreamArn": self.arn("dynamodb", f"table/{ref}/stream/1970-01-01T00:00:00.000"),
            },
            "AWS::SQS::Queue": lambda: {"Arn": self.arn("sqs", queue), "QueueName": queue, "QueueUrl": ref},
            "AWS::S3::Bucket": lambda: {
                "Arn": f"arn:{self.partition}:s3:::{ref}",
                "DomainName": f"{ref}.s3.amazonaws.com",
                "RegionalDomainName": f"{ref}.s3.{self.region}.amazonaws.com",
                "DualStackDomainName": f"{ref}.s3.dualstack.{self.region}.amazonaws.com",
                "WebsiteURL": f"http://{ref}.s3-website-{self.region}.amazonaws.com",
            },
            "AWS::Logs::LogGroup": lambda: {"Arn": self.arn("logs", f"log-group:{ref}:*")},
            "AWS::SNS::Topic": lambda: {"TopicArn": ref, "TopicName": str(ref).rsplit(":", 1)[-1]},
            "AWS::Events::EventBus": lambda: {"Arn": self.arn("events", f"event-bus/{ref}"), "Name": ref},
            "AWS::Serverless::Function": function,
            "AWS::Lambda::Function": function,
            "AWS::Serverless::Api": api,
            "AWS::ApiGateway::RestApi": api,
            "AWS::IAM::Role": lambda: {"Arn": f"arn:{self.partition}:iam::{self.account_id}:role/{ref}"},
            "AWS::Scheduler::Schedule": lambda: {"Arn": self.arn("scheduler", f"schedule/default/{ref}")},
            "AWS::KMS::Key": lambda: {"Arn": self.arn("kms", f"key/{ref}"), "KeyId": ref},
        }
        make = known.get(kind)
        return make() if make is not None else {}


# ----------------------------------------------------------------------------------------- the stack
def _substitute_outside(value: Any, catalog: Catalog, inside: set[str]) -> Any:
    """Replace references to resources that are not in moto's stack by their local values."""
    resources = catalog.template.resources
    if isinstance(value, list):
        return [_substitute_outside(item, catalog, inside) for item in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        key, arg = next(iter(value.items()))
        if key == "Ref" and isinstance(arg, str) and arg in resources and arg not in inside:
            return catalog.ref(arg)
        if key == "Fn::GetAtt":
            target = arg.split(".", 1)[0] if isinstance(arg, str) else arg[0]
            if target in resources and target not in inside:
                return catalog.resolve(value)
        if key == "Fn::Sub":
            text, variables = (arg[0], arg[1] if len(arg) > 1 else {}) if isinstance(arg, list) else (arg, {})

            def replace(match: re.Match[str]) -> str:
                token = match.group(1)
                name = token.split(".", 1)[0]
                if token.startswith("!") or name in variables or name not in resources or name in inside:
                    return match.group(0)
                return str(catalog.resolve({"Fn::Sub": "${" + token + "}"}))

            text = re.sub(r"\$\{([^}]*)\}", replace, text)
            variables = _substitute_outside(variables, catalog, inside)
            return {"Fn::Sub": [text, variables] if variables else text}
    return {key: _substitute_outside(item, catalog, inside) for key, item in value.items()}


# The property that names a resource of each type, and its Ref value given that name: with every
# name fixed up front (CloudFormation-style generated names for unnamed resources), the physical ids
# are known before moto creates anything, so the functions' workers can start while it does.
NAME_PROPERTIES = {
    "AWS::DynamoDB::Table": "TableName",
    "AWS::SQS::Queue": "QueueName",
    "AWS::S3::Bucket": "BucketName",
    "AWS::Logs::LogGroup": "LogGroupName",
    "AWS::SNS::Topic": "TopicName",
    "AWS::Events::EventBus": "Name",
    "AWS::SSM::Parameter": "Name",
    "AWS::Kinesis::Stream": "Name",
}


def _generated_name(catalog: Catalog, logical_id: str, kind: str, props: dict[str, Any]) -> str:
    suffix = hashlib.sha1(f"{catalog.stack_name}/{logical_id}".encode()).hexdigest()[:12].upper()
    name = f"{catalog.stack_name}-{logical_id}-{suffix}"
    if kind == "AWS::S3::Bucket":
        return name.lower()[:63]
    if kind == "AWS::SQS::Queue" and str(props.get("FifoQueue", "")).lower() == "true":
        return name[:75] + ".fifo"
    return name[:80]


def _ref_for_name(catalog: Catalog, kind: str, name: str) -> str:
    if kind == "AWS::SQS::Queue":
        return f"https://sqs.{catalog.region}.amazonaws.com/{catalog.account_id}/{name}"
    if kind == "AWS::SNS::Topic":
        return catalog.arn("sns", name)
    return name


@dataclass
class StackPlan:
    """The CloudFormation body given to moto and the physical ids it will produce."""

    body: dict[str, Any]
    inside: set[str]
    predicted: dict[str, str] = field(default_factory=dict)


def plan_stack(catalog: Catalog) -> StackPlan:
    template = catalog.template
    inside: set[str] = set()
    for logical_id, resource in template.resources.items():
        kind = resource.get("Type", "")
        if not catalog.enabled(logical_id):
            log.info("stack: %s (%s) skipped: its condition is false", logical_id, kind)
        elif kind in STACK_TYPES:
            inside.add(logical_id)
        elif kind not in PLAYED_TYPES:
            log.info("stack: %s (%s) skipped: not created in moto", logical_id, kind)
    plan = StackPlan(body={"AWSTemplateFormatVersion": "2010-09-09", "Resources": {}}, inside=inside)
    for section in ("Parameters", "Conditions", "Mappings"):
        if template.body.get(section):
            plan.body[section] = template.body[section]
    for logical_id in sorted(inside):
        resource = dict(template.resources[logical_id])
        resource.pop("Condition", None)
        depends = resource.get("DependsOn")
        if depends:
            depends = [depends] if isinstance(depends, str) else depends
            resource["DependsOn"] = [d for d in depends if d in inside]
        props = _substitute_outside(resource.get("Properties") or {}, catalog, inside)
        kind = resource["Type"]
        name_property = NAME_PROPERTIES.get(kind)
        if name_property:
            try:
                name = str(catalog.resolve(props[name_property])) if name_property in props else None
            except IntrinsicError:
                name = None  # named after another resource of the stack: known once moto has created it
            else:
                if name is None:
                    name = _generated_name(catalog, logical_id, kind, props)
                    props[name_property] = name
                plan.predicted[logical_id] = _ref_for_name(catalog, kind, name)
        resource["Properties"] = props
        plan.body["Resources"][logical_id] = resource
    return plan


def create_stack(moto: Any, catalog: Catalog, plan: StackPlan, parameter_values: dict[str, Any]) -> list[str]:
    """Create the stack in moto; fills ``catalog.physical`` and returns the ids that differ from the plan."""
    if not plan.body["Resources"]:
        return []
    cfn = moto.client("cloudformation")
    parameters = [
        {"ParameterKey": k, "ParameterValue": ",".join(v) if isinstance(v, list) else str(v)}
        for k, v in parameter_values.items()
    ]
    started = time.monotonic()
    cfn.create_stack(StackName=catalog.stack_name, TemplateBody=json.dumps(plan.body), Parameters=parameters)
    status = cfn.describe_stacks(StackName=catalog.stack_name)["Stacks"][0]["StackStatus"]
    if status != "CREATE_COMPLETE":
        events = cfn.describe_stack_events(StackName=catalog.stack_name)["StackEvents"]
        reasons = [
            f"{e['LogicalResourceId']}: {e.get('ResourceStatusReason')}"
            for e in events
            if "FAILED" in e["ResourceStatus"]
        ]
        raise RuntimeError(f"moto could not create the stack ({status}): {reasons}")
    paginator = cfn.get_paginator("list_stack_resources")
    for page in paginator.paginate(StackName=catalog.stack_name):
        for summary in page["StackResourceSummaries"]:
            catalog.physical[summary["LogicalResourceId"]] = summary["PhysicalResourceId"]
    log.info("stack: %d resources created in moto in %.2f s", len(plan.inside), time.monotonic() - started)
    _apply_what_moto_ignores(moto, catalog, plan.inside)
    return [k for k, v in plan.predicted.items() if catalog.physical.get(k) != v]


def _apply_what_moto_ignores(moto: Any, catalog: Catalog, inside: set[str]) -> None:
    for logical_id in sorted(inside):
        kind = catalog.type_of(logical_id)
        props = catalog.resolve(catalog.properties(logical_id))
        name = catalog.physical[logical_id]
        if kind == "AWS::S3::Bucket":
            _configure_bucket(moto, catalog, name, props)
        elif kind == "AWS::DynamoDB::Table":
            ttl = props.get("TimeToLiveSpecification") or {}
            if str(ttl.get("Enabled", "")).lower() == "true" and ttl.get("AttributeName"):
                moto.client("dynamodb").update_time_to_live(
                    TableName=name,
                    TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["AttributeName"]},
                )


def _configure_bucket(moto: Any, catalog: Catalog, bucket: str, props: dict[str, Any]) -> None:
    s3 = moto.client("s3")
    notification = props.get("NotificationConfiguration") or {}
    config: dict[str, Any] = {}
    if str((notification.get("EventBridgeConfiguration") or {}).get("EventBridgeEnabled", "")).lower() == "true":
        config["EventBridgeConfiguration"] = {}

    def filter_of(item: dict[str, Any]) -> dict[str, Any]:
        rules = ((item.get("Filter") or {}).get("S3Key") or {}).get("Rules") or []
        return (
            {"Filter": {"Key": {"FilterRules": [{"Name": r["Name"], "Value": r["Value"]} for r in rules]}}}
            if rules
            else {}
        )

    queues = [
        {"QueueArn": q["Queue"], "Events": [q["Event"]], **filter_of(q)}
        for q in notification.get("QueueConfigurations") or []
    ]
    topics = [
        {"TopicArn": t["Topic"], "Events": [t["Event"]], **filter_of(t)}
        for t in notification.get("TopicConfigurations") or []
    ]
    if queues:
        config["QueueConfigurations"] = queues
    if topics:
        config["TopicConfigurations"] = topics
    if notification.get("LambdaConfigurations"):
        log.warning("stack: bucket %s: LambdaConfigurations are not delivered locally (use EventBridge)", bucket)
    if config:
        s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration=config)
        log.info("stack: bucket %s notifications: %s", bucket, ", ".join(sorted(config)))
    cors = (props.get("CorsConfiguration") or {}).get("CorsRules")
    if cors:
        rules = []
        for rule in cors:
            converted = {
                "AllowedMethods": rule["AllowedMethods"],
                "AllowedOrigins": rule["AllowedOrigins"],
                **({"AllowedHeaders": rule["AllowedHeaders"]} if rule.get("AllowedHeaders") else {}),
                **({"ExposeHeaders": rule["ExposedHeaders"]} if rule.get("ExposedHeaders") else {}),
                **({"MaxAgeSeconds": int(rule["MaxAge"])} if rule.get("MaxAge") else {}),
            }
            rules.append(converted)
        s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": rules})
    versioning = (props.get("VersioningConfiguration") or {}).get("Status")
    if versioning:
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": versioning})
