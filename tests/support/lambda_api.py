"""Drive handlers in-process the way API Gateway, SQS and the scheduler would (functional tests)."""

from __future__ import annotations

import copy
import hashlib
import importlib.util
import json
import sys
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from types import ModuleType
from typing import Any

from tests.support.template import ROOT, functions, load
from tests.support.timestamps import misformatted_timestamps

EVENTS = ROOT / "events"
OPERATOR_KEY = "aud_operator_test_key_0123456789"
OPERATOR_KEY_HASH = hashlib.sha256(OPERATOR_KEY.encode()).hexdigest()


@dataclass
class FakeContext:
    function_name: str = "test-function"
    function_version: str = "$LATEST"
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:test-function"
    memory_limit_in_mb: int = 512
    aws_request_id: str = ""
    log_group_name: str = "/aws/lambda/test-function"
    log_stream_name: str = "test"

    def __post_init__(self) -> None:
        self.aws_request_id = self.aws_request_id or str(uuid.uuid4())

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def event(name: str) -> dict[str, Any]:
    return copy.deepcopy(json.loads((EVENTS / name).read_text()))


def load_handler(logical_id: str) -> Any:
    """Import a function's handler from its CodeUri, under a unique module name (they are all ``app``)."""
    props = functions()[logical_id]["Properties"]
    module_name, attr = props["Handler"].rsplit(".", 1)
    path = ROOT / props["CodeUri"] / f"{module_name}.py"
    unique = f"fn_{logical_id}_{module_name}"
    if unique not in sys.modules:
        spec = importlib.util.spec_from_file_location(unique, path)
        assert spec and spec.loader
        module: ModuleType = importlib.util.module_from_spec(spec)
        sys.modules[unique] = module
        spec.loader.exec_module(module)
    return getattr(sys.modules[unique], attr)


def public_routes() -> set[tuple[str, str]]:
    out = set()
    for fn in functions().values():
        for ev in (fn["Properties"].get("Events") or {}).values():
            props = ev.get("Properties", {})
            if ev["Type"] == "Api" and (props.get("Auth") or {}).get("Authorizer") == "NONE":
                out.add((props["Method"].upper(), props["Path"]))
    return out


@dataclass
class ApiResult:
    status: int
    body: Any
    headers: dict[str, str]

    @property
    def error_code(self) -> str | None:
        return (self.body or {}).get("error", {}).get("code") if isinstance(self.body, dict) else None


class ApiClient:
    """Calls AuthorizerFunction then ApiFunction like the gateway does (without its caching)."""

    def __init__(self, now: datetime | None = None) -> None:
        self.now = now or datetime(2026, 11, 3, 10, 0, tzinfo=UTC)
        self._authorizer = load_handler("AuthorizerFunction")
        self._api = load_handler("ApiFunction")
        self._public = public_routes()

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        key: str | None = None,
        headers: dict[str, str] | None = None,
        raw_body: str | None = None,
        query: dict[str, str] | None = None,
        now: datetime | None = None,
    ) -> ApiResult:
        ev = event("api_get_me.json")
        hdrs = {"Accept": "application/json", **(headers or {})}
        if key is not None:
            hdrs["Authorization"] = f"Bearer {key}"
        text = raw_body if raw_body is not None else (json.dumps(body) if body is not None else None)
        if text is not None:
            hdrs.setdefault("Content-Type", "application/json")
        when = now or self.now
        ev.update(
            path=path,
            httpMethod=method,
            headers=hdrs,
            multiValueHeaders={k: [v] for k, v in hdrs.items()},
            queryStringParameters=query,
            multiValueQueryStringParameters={k: [v] for k, v in query.items()} if query else None,
            body=text,
        )
        ctx = ev["requestContext"]
        ctx.update(httpMethod=method, path=f"/local{path}", requestTimeEpoch=int(when.timestamp() * 1000))
        if (method, path) in self._public:
            ctx["authorizer"] = {}
            ev["resource"] = path
        else:
            if key is None:
                return ApiResult(401, {"error": {"code": "unauthorized"}}, {})
            token_event = event("authorizer_token.json")
            token_event["authorizationToken"] = f"Bearer {key}"
            try:
                policy = self._authorizer(token_event, FakeContext(function_name="authorizer"))
            except Exception as exc:  # the gateway turns "Unauthorized" into its 401 response
                assert str(exc) == "Unauthorized"
                return ApiResult(401, {"error": {"code": "unauthorized"}}, {})
            ctx["authorizer"] = {"principalId": policy["principalId"], **policy.get("context", {})}
        result = self._api(ev, FakeContext(function_name="api"))
        text_out = result.get("body") or ""
        try:
            parsed = json.loads(text_out) if text_out else None
        except json.JSONDecodeError:
            parsed = text_out
        out_headers = dict(result.get("headers") or {})
        out_headers.update({k: ", ".join(v) for k, v in (result.get("multiValueHeaders") or {}).items()})
        # Every response of every functional test: each timestamp field written the one API way.
        misformatted = misformatted_timestamps(parsed)
        assert not misformatted, f"{method} {path}: timestamps not in the API format: {misformatted}"
        return ApiResult(result["statusCode"], parsed, out_headers)


def function_environment(physical: dict[str, str], overrides: dict[str, str]) -> dict[str, str]:
    """Union of every function's template environment with Refs resolved (params: defaults/overrides)."""
    tpl = load()
    params = {k: str(v.get("Default", "")) for k, v in tpl.get("Parameters", {}).items()}
    params.update({"AWS::AccountId": "123456789012", "AWS::Region": "us-east-1", "AWS::Partition": "aws"})
    params.update(overrides)
    env: dict[str, str] = {}
    variables: list[dict[str, Any]] = [
        tpl.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
    ]
    variables += [fn["Properties"].get("Environment", {}).get("Variables", {}) for fn in functions().values()]
    for block in variables:
        for name, value in block.items():
            if isinstance(value, dict) and "Ref" in value:
                ref = value["Ref"]
                env[name] = params[ref] if ref in params else physical[ref]
            elif isinstance(value, str):
                env[name] = value
    return env
