"""CloudFormation intrinsic functions, resolved locally.

Function environments, event patterns and schedule names are resolved here (not by moto) because the
functions, APIs and schedules are not in moto's stack; the values match what CloudFormation would give.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from typing import Any

NO_VALUE = object()  # AWS::NoValue: the enclosing key or list item disappears

_SUB_TOKEN = re.compile(r"\$\{([^}]*)\}")


class IntrinsicError(ValueError):
    pass


class Resolver:
    def __init__(
        self,
        *,
        parameters: dict[str, Any],
        conditions: dict[str, Any],
        mappings: dict[str, Any],
        region: str,
        account_id: str,
        stack_name: str,
        ref: Callable[[str], Any],
        get_att: Callable[[str, str], Any],
        resource_ids: set[str],
    ) -> None:
        self.parameters = parameters
        self._condition_specs = conditions
        self._condition_values: dict[str, bool] = {}
        self.mappings = mappings
        self.region = region
        self.account_id = account_id
        self.partition = (
            "aws-cn" if region.startswith("cn-") else "aws-us-gov" if region.startswith("us-gov-") else "aws"
        )
        self.stack_name = stack_name
        self._ref = ref
        self._get_att = get_att
        self.resource_ids = resource_ids

    @property
    def pseudo(self) -> dict[str, Any]:
        return {
            "AWS::Region": self.region,
            "AWS::AccountId": self.account_id,
            "AWS::Partition": self.partition,
            "AWS::StackName": self.stack_name,
            "AWS::StackId": f"arn:{self.partition}:cloudformation:{self.region}:{self.account_id}:stack/"
            f"{self.stack_name}/00000000-0000-0000-0000-000000000000",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::NotificationARNs": [],
            "AWS::NoValue": NO_VALUE,
        }

    def condition(self, name: str) -> bool:
        if name not in self._condition_values:
            if name not in self._condition_specs:
                raise IntrinsicError(f"unknown condition {name}")
            self._condition_values[name] = bool(self.resolve(self._condition_specs[name]))
        return self._condition_values[name]

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            items = [self.resolve(item) for item in value]
            return [item for item in items if item is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            key, arg = next(iter(value.items()))
            handler = self._functions.get(key)
            if handler is not None and not (key == "Condition" and not isinstance(arg, str)):
                return handler(self, arg)
        resolved = {key: self.resolve(item) for key, item in value.items()}
        return {key: item for key, item in resolved.items() if item is not NO_VALUE}

    # -- functions --------------------------------------------------------------------------------
    def _fn_ref(self, name: Any) -> Any:
        name = self.resolve(name)
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        if name in self.resource_ids:
            return self._ref(name)
        raise IntrinsicError(f"Ref to unknown name {name!r}")

    def _fn_get_att(self, arg: Any) -> Any:
        if isinstance(arg, str):
            resource, _, attribute = arg.partition(".")
        else:
            resource, attribute = self.resolve(arg[0]), self.resolve(arg[1])
        if resource not in self.resource_ids:
            raise IntrinsicError(f"GetAtt on unknown resource {resource!r}")
        return self._get_att(resource, attribute)

    def _fn_sub(self, arg: Any) -> str:
        if isinstance(arg, list):
            text, variables = arg[0], {k: self.resolve(v) for k, v in (arg[1] if len(arg) > 1 else {}).items()}
        else:
            text, variables = arg, {}
        if not isinstance(text, str):
            raise IntrinsicError(f"Fn::Sub needs a string, got {text!r}")

        def replace(match: re.Match[str]) -> str:
            token = match.group(1)
            if token.startswith("!"):
                return "${" + token[1:] + "}"
            token = token.strip()
            if token in variables:
                value = variables[token]
            elif "." in token and token.split(".", 1)[0] in self.resource_ids:
                resource, attribute = token.split(".", 1)
                value = self._get_att(resource, attribute)
            else:
                value = self._fn_ref(token)
            if isinstance(value, list):
                value = ",".join(str(v) for v in value)
            return str(value)

        return _SUB_TOKEN.sub(replace, text)

    def _fn_if(self, arg: Any) -> Any:
        name, if_true, if_false = arg
        return self.resolve(if_true) if self.condition(name) else self.resolve(if_false)

    def _fn_equals(self, arg: Any) -> bool:
        left, right = (self.resolve(item) for item in arg)
        return str(left) == str(right) if not isinstance(left, list | dict) else bool(left == right)

    def _fn_not(self, arg: Any) -> bool:
        return not self._truth(arg[0] if isinstance(arg, list) else arg)

    def _fn_and(self, arg: Any) -> bool:
        return all(self._truth(item) for item in arg)

    def _fn_or(self, arg: Any) -> bool:
        return any(self._truth(item) for item in arg)

    def _truth(self, value: Any) -> bool:
        resolved = self.resolve(value)
        return resolved if isinstance(resolved, bool) else str(resolved).lower() == "true"

    def _fn_condition(self, name: Any) -> bool:
        return self.condition(self.resolve(name))

    def _fn_join(self, arg: Any) -> str:
        delimiter, items = arg[0], self.resolve(arg[1])
        return str(delimiter).join(str(item) for item in items)

    def _fn_select(self, arg: Any) -> Any:
        index, items = int(self.resolve(arg[0])), self.resolve(arg[1])
        return items[index]

    def _fn_split(self, arg: Any) -> list[str]:
        delimiter, text = arg[0], self.resolve(arg[1])
        return str(text).split(str(delimiter))

    def _fn_find_in_map(self, arg: Any) -> Any:
        name, top, second = (self.resolve(item) for item in arg[:3])
        try:
            return self.mappings[name][top][second]
        except KeyError:
            if len(arg) > 3 and isinstance(arg[3], dict) and "DefaultValue" in arg[3]:
                return self.resolve(arg[3]["DefaultValue"])
            raise IntrinsicError(f"Fn::FindInMap {name}/{top}/{second} not found") from None

    def _fn_get_azs(self, arg: Any) -> list[str]:
        region = self.resolve(arg) or self.region
        return [f"{region}{zone}" for zone in "abc"]

    def _fn_import_value(self, arg: Any) -> Any:
        raise IntrinsicError(f"Fn::ImportValue {self.resolve(arg)!r}: other stacks do not exist locally")

    def _fn_base64(self, arg: Any) -> str:
        return base64.b64encode(str(self.resolve(arg)).encode()).decode()

    def _fn_to_json_string(self, arg: Any) -> str:
        return json.dumps(self.resolve(arg), separators=(",", ":"))

    def _fn_length(self, arg: Any) -> int:
        return len(self.resolve(arg))

    _functions: dict[str, Callable[[Resolver, Any], Any]] = {
        "Ref": _fn_ref,
        "Fn::GetAtt": _fn_get_att,
        "Fn::Sub": _fn_sub,
        "Fn::If": _fn_if,
        "Fn::Equals": _fn_equals,
        "Fn::Not": _fn_not,
        "Fn::And": _fn_and,
        "Fn::Or": _fn_or,
        "Condition": _fn_condition,
        "Fn::Join": _fn_join,
        "Fn::Select": _fn_select,
        "Fn::Split": _fn_split,
        "Fn::FindInMap": _fn_find_in_map,
        "Fn::GetAZs": _fn_get_azs,
        "Fn::ImportValue": _fn_import_value,
        "Fn::Base64": _fn_base64,
        "Fn::ToJsonString": _fn_to_json_string,
        "Fn::Length": _fn_length,
    }
