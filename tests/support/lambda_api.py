"""Drive handlers in-process the way API Gateway, SQS and the scheduler would (functional tests)."""

from __future__ import annotations

import base64
import contextlib
import copy
import hashlib
import importlib.util
import json
import re
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import ModuleType
from typing import Any

from tests.support.environ import environ_replaced
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


def _module(logical_id: str) -> tuple[ModuleType, str]:
    """A function's handler module, imported from its CodeUri under a unique name (they are all ``app``)."""
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
    return sys.modules[unique], attr


class FunctionHandler:
    """A function's handler as Lambda runs it: each invocation sees only the environment the function's
    template entry gives it (Globals and its own variables, resolved against the current ``Deployment``),
    with the settings read afresh, and the process environment restored after."""

    def __init__(self, logical_id: str) -> None:
        self.logical_id = logical_id
        module, attr = _module(logical_id)
        self.handler = getattr(module, attr)
        self.__module__ = module.__name__
        self.__name__ = attr

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        with running_as(self.logical_id, activate=False):
            return self.handler(*args, **kwargs)


def provider_api_event(method: str, path: str, body: Any, account_id: str, now: datetime) -> dict[str, Any]:
    """An API Gateway event as the authorizer passes it on for a provider's key (the benchmarks' requests)."""
    ev = event("api_get_me.json")
    ev.update(
        path=path,
        httpMethod=method,
        headers={"Content-Type": "application/json"},
        multiValueHeaders={"Content-Type": ["application/json"]},
        body=json.dumps(body) if body is not None else None,
    )
    ev["requestContext"].update(
        httpMethod=method,
        requestTimeEpoch=int(now.timestamp() * 1000),
        authorizer={"principalId": account_id, "account_id": account_id, "roles": "provider", "key_id": "key_bench"},
    )
    return ev


def load_handler(logical_id: str) -> FunctionHandler:
    """A function's handler from its CodeUri, invoked with the function's own environment."""
    return FunctionHandler(logical_id)


def handler_module(logical_id: str) -> ModuleType:
    return _module(logical_id)[0]


@dataclass
class Deployment:
    """The stack the functions run in: physical names of its resources and the template parameters. Each
    function's environment is what ``template`` (template.yaml unless given) resolves to for it; a resource
    missing from ``physical`` resolves to its logical id (tests that fake every service need no stack)."""

    physical: dict[str, str] = field(default_factory=dict)
    parameters: dict[str, str] = field(default_factory=dict)
    template: dict[str, Any] | None = None

    def _template(self) -> dict[str, Any]:
        return self.template if self.template is not None else load()

    def _resolve(self, block: dict[str, Any]) -> dict[str, str]:
        tpl = self._template()
        params = {k: str(v.get("Default", "")) for k, v in tpl.get("Parameters", {}).items()}
        params.update({"AWS::AccountId": "123456789012", "AWS::Region": "us-east-1", "AWS::Partition": "aws"})
        params.update(self.parameters)

        def ref(name: str) -> str:
            return params[name] if name in params else self.physical.get(name, name)

        env: dict[str, str] = {}
        for name, value in block.items():
            if isinstance(value, dict) and "Ref" in value:
                env[name] = ref(value["Ref"])
            elif isinstance(value, dict) and isinstance(value.get("Fn::Sub"), str):
                env[name] = re.sub(r"\$\{([^}!]+)\}", lambda found: ref(found.group(1)), value["Fn::Sub"])
            elif isinstance(value, str):
                env[name] = value
            else:
                raise AssertionError(f"{name}: cannot resolve {value!r}")
        return env

    def environment(self, logical_id: str) -> dict[str, str]:
        """The function's environment as Lambda sets it: the Globals' variables, then its own."""
        tpl = self._template()
        globals_ = tpl.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
        own = tpl["Resources"][logical_id]["Properties"].get("Environment", {}).get("Variables", {})
        return {**self._resolve(globals_), **self._resolve(own)}

    def variables(self) -> set[str]:
        """Every variable any function of the template has."""
        tpl = self._template()
        names = set(tpl.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {}))
        for res in tpl["Resources"].values():
            if res["Type"] == "AWS::Serverless::Function":
                names |= set(res["Properties"].get("Environment", {}).get("Variables", {}))
        return names


_deployments: list[Deployment] = [Deployment()]


def deployment() -> Deployment:
    """The deployment handlers run in now (the stack fixture's; without one, logical ids as names)."""
    return _deployments[-1]


@contextlib.contextmanager
def deployed(current: Deployment) -> Iterator[Deployment]:
    _deployments.append(current)
    try:
        yield current
    finally:
        _deployments.remove(current)


@contextlib.contextmanager
def function_environ(names: set[str], env: dict[str, str]) -> Iterator[None]:
    """``os.environ`` without ``names`` but with ``env``, the settings read afresh; all restored after."""
    from audiens import config

    config.load.cache_clear()
    try:
        with environ_replaced(names, env):
            yield
    finally:
        config.load.cache_clear()


def settings_of(logical_id: str) -> Any:
    """The settings model the function's handler is ``configured`` with."""
    from audiens import config

    module, attr = _module(logical_id)
    model = config.settings_model(getattr(module, attr))
    assert model is not None, f"{logical_id}: its handler is not configured(...)"
    return model


@contextlib.contextmanager
def running_as(logical_id: str, *, activate: bool = True) -> Iterator[dict[str, str]]:
    """Run as the function ``logical_id``: ``os.environ`` holds only the template variables it has (the
    others removed), the settings are read afresh, and with ``activate`` its settings model is the current
    one (code calling ``audiens.wiring`` directly sees that function's services)."""
    from audiens import config

    current = deployment()
    env = current.environment(logical_id)
    with function_environ(current.variables(), env):
        if activate:
            with config.activated(config.load(settings_of(logical_id))):
                yield env
        else:
            yield env


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
        parsed: Any
        if result.get("isBase64Encoded"):
            parsed = base64.b64decode(text_out)  # binary (a PDF): what the gateway decodes for the client
        else:
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


def function_environment(current: Deployment) -> dict[str, str]:
    """Every function's environment together (what code outside any handler sees in the functional tests)."""
    env: dict[str, str] = {}
    for logical_id in functions():
        env.update(current.environment(logical_id))
    return env


def clear_caches() -> None:
    """Forget the settings read and the services built (a new stack, another stage)."""
    from audiens import config, wiring

    config.load.cache_clear()
    for name in dir(wiring):
        built = getattr(wiring, name)
        if isinstance(built, wiring.Factory):
            built.cache_clear()


@contextlib.contextmanager
def as_deployed(current: Deployment) -> Iterator[Deployment]:
    """Handlers run in ``current``; code outside them (a test reading a repository through ``audiens.wiring``)
    runs as the ApiFunction, with every function's variables in ``os.environ``."""
    from audiens import config

    clear_caches()
    try:
        with (
            function_environ(current.variables(), function_environment(current)),
            deployed(current),
            config.activated(config.load(settings_of("ApiFunction"))),
        ):
            yield current
    finally:
        clear_caches()


_scripts = contextlib.ExitStack()


def deploy(physical: dict[str, str], parameters: dict[str, str], template: dict[str, Any] | None = None) -> Deployment:
    """``as_deployed`` for the rest of a script's process (the benchmarks), replacing an earlier deploy."""
    _scripts.close()
    current = Deployment(physical, parameters, template)
    _scripts.enter_context(as_deployed(current))
    return current
