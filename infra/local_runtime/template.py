"""Reading a SAM template: CloudFormation short tags, parameters, conditions and SAM Globals.

Everything the runtime knows about the system comes from here, so that adding a table, a queue or a
function to ``template.yaml`` is enough for the local runtime to pick it up.
"""

from __future__ import annotations

import copy
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

log = logging.getLogger("local_runtime")

SHORT_TAGS = (
    "Ref",
    "GetAtt",
    "Sub",
    "If",
    "Equals",
    "Join",
    "Select",
    "Split",
    "Not",
    "And",
    "Or",
    "FindInMap",
    "Condition",
    "GetAZs",
    "ImportValue",
    "Base64",
    "Cidr",
    "Length",
    "ToJsonString",
    "Transform",
)


class CfnLoader(yaml.SafeLoader):  # type: ignore[misc]  # PyYAML ships no type stubs
    """SafeLoader that turns ``!Ref x`` into ``{"Ref": "x"}`` and ``!Sub s`` into ``{"Fn::Sub": s}``.

    Timestamps stay strings, as CloudFormation reads them.
    """


def _construct_value(loader: CfnLoader, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_mapping(node, deep=True)


def _short_tag(loader: CfnLoader, tag_suffix: str, node: yaml.Node) -> Any:
    value = _construct_value(loader, node)
    if tag_suffix == "Ref":
        return {"Ref": value}
    if tag_suffix == "Condition":
        return {"Condition": value}
    if tag_suffix == "GetAtt":
        if isinstance(value, str):
            resource, _, attribute = value.partition(".")
            return {"Fn::GetAtt": [resource, attribute]}
        return {"Fn::GetAtt": list(value)}
    return {f"Fn::{tag_suffix}": value}


CfnLoader.add_multi_constructor("!", _short_tag)
CfnLoader.add_constructor(
    "tag:yaml.org,2002:timestamp",
    lambda loader, node: loader.construct_scalar(node),
)


def load_yaml(text: str) -> Any:
    return yaml.load(text, Loader=CfnLoader)


def is_intrinsic(value: Any) -> bool:
    if not isinstance(value, dict) or len(value) != 1:
        return False
    key = str(next(iter(value)))
    return key in ("Ref", "Condition") or key.startswith("Fn::")


def sam_merge(global_value: Any, local_value: Any) -> Any:
    """SAM's Globals rules: maps merge (local wins), lists concatenate, anything else is replaced."""
    if is_intrinsic(global_value) or is_intrinsic(local_value):
        return copy.deepcopy(local_value)
    if isinstance(global_value, dict) and isinstance(local_value, dict):
        merged = copy.deepcopy(global_value)
        for key, value in local_value.items():
            merged[key] = sam_merge(merged[key], value) if key in merged else copy.deepcopy(value)
        return merged
    if isinstance(global_value, list) and isinstance(local_value, list):
        return copy.deepcopy(global_value) + copy.deepcopy(local_value)
    return copy.deepcopy(local_value)


@dataclass
class EventSource:
    function_id: str
    name: str
    type: str
    properties: dict[str, Any]


@dataclass
class Template:
    path: Path
    body: dict[str, Any]
    resources: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Template:
        path = Path(path).resolve()
        body = load_yaml(path.read_text(encoding="utf-8")) or {}
        if not isinstance(body, dict) or not isinstance(body.get("Resources"), dict):
            raise ValueError(f"{path} is not a CloudFormation template (no Resources)")
        template = cls(path=path, body=body)
        template.resources = template._apply_globals(body["Resources"])
        return template

    @property
    def root(self) -> Path:
        return self.path.parent

    @property
    def parameters(self) -> dict[str, dict[str, Any]]:
        return dict(self.body.get("Parameters") or {})

    @property
    def conditions(self) -> dict[str, Any]:
        return dict(self.body.get("Conditions") or {})

    @property
    def mappings(self) -> dict[str, Any]:
        return dict(self.body.get("Mappings") or {})

    def parameter_values(self, overrides: dict[str, str] | None = None) -> dict[str, Any]:
        """Defaults, then overrides for the parameters the template declares (others are ignored)."""
        values: dict[str, Any] = {}
        overrides = overrides or {}
        for name, spec in self.parameters.items():
            if name in overrides:
                value: Any = overrides[name]
            elif "Default" in spec:
                value = spec["Default"]
            else:
                raise ValueError(f"template parameter {name} has no Default and no local value")
            if str(spec.get("Type", "String")).startswith(("CommaDelimitedList", "List<")) and isinstance(value, str):
                value = [item.strip() for item in value.split(",")] if value else []
            elif isinstance(value, bool):
                value = "true" if value else "false"
            elif not isinstance(value, list):
                value = str(value)
            values[name] = value
        return values

    def of_type(self, *types: str) -> Iterator[tuple[str, dict[str, Any]]]:
        for logical_id, resource in self.resources.items():
            if resource.get("Type") in types:
                yield logical_id, resource

    def functions(self) -> Iterator[tuple[str, dict[str, Any]]]:
        return self.of_type("AWS::Serverless::Function")

    def events(self, *types: str) -> Iterator[EventSource]:
        for function_id, resource in self.functions():
            for name, event in (resource.get("Properties", {}).get("Events") or {}).items():
                if not types or event.get("Type") in types:
                    yield EventSource(function_id, name, str(event.get("Type")), dict(event.get("Properties") or {}))

    def _apply_globals(self, resources: dict[str, Any]) -> dict[str, dict[str, Any]]:
        globals_ = self.body.get("Globals") or {}
        section_of = {
            "AWS::Serverless::Function": "Function",
            "AWS::Serverless::Api": "Api",
            "AWS::Serverless::HttpApi": "HttpApi",
            "AWS::Serverless::SimpleTable": "SimpleTable",
            "AWS::Serverless::LayerVersion": "LayerVersion",
        }
        merged: dict[str, dict[str, Any]] = {}
        for logical_id, resource in resources.items():
            resource = copy.deepcopy(resource)
            section = globals_.get(section_of.get(resource.get("Type", ""), ""))
            if section:
                resource["Properties"] = sam_merge(section, resource.get("Properties") or {})
            merged[logical_id] = resource
        if (
            any(
                event.get("Type") == "Api" and "RestApiId" not in (event.get("Properties") or {})
                for _, fn in ((k, v) for k, v in merged.items() if v.get("Type") == "AWS::Serverless::Function")
                for event in ((fn.get("Properties") or {}).get("Events") or {}).values()
            )
            and "ServerlessRestApi" not in merged
        ):
            # SAM's implicit API for Api events without RestApiId.
            merged["ServerlessRestApi"] = {
                "Type": "AWS::Serverless::Api",
                "Properties": sam_merge(globals_.get("Api") or {}, {"StageName": "Prod"}),
            }
        return merged
