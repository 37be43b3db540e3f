"""LocalRuntime: the whole system from template.yaml, on moto, on 127.0.0.1."""

from __future__ import annotations

import contextlib
import gc
import hashlib
import importlib
import json
import logging
import os
import re
import signal
import site
import sys
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from .apigw import Authorizer, RestApi, Route
from .aws import ACCOUNT_ID, DUMMY_CREDENTIALS, Moto
from .clock import Clock
from .dynamodb_limits import Limits
from .intrinsics import IntrinsicError
from .scheduler import Scheduler
from .sources import EventBridgeSource, SqsSource, _Poller, queue_name_of
from .stack import Catalog, PhysicalIdPendingError, create_stack, plan_stack
from .state import StateStore
from .template import Template
from .workers import FunctionPool, Invocation

if TYPE_CHECKING:
    from .gateway import Gateway

log = logging.getLogger("local_runtime")

DEFAULT_OPERATOR_KEY = "aud_operator_local_development_key"
DEFAULT_POOL_SIZES = {"ApiFunction": 3, "AuthorizerFunction": 2}
SUPPORTED_EVENTS = ("Api", "SQS", "EventBridgeRule", "Schedule", "ScheduleV2")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class StillBusyError(TimeoutError):
    """wait_idle's time ran out; ``busy`` names what was still going on."""

    def __init__(self, timeout: float, busy: list[str]) -> None:
        super().__init__(f"the local runtime is still busy after {timeout:g} s: {', '.join(busy)}")
        self.busy = busy


def operator_key() -> str:
    return os.environ.get("AUDIENS_OPERATOR_KEY") or DEFAULT_OPERATOR_KEY


def _base_python_paths() -> list[str]:
    """The interpreter's standard library and the venv's site-packages: what the function's layers sit on."""
    prefixes = tuple(str(Path(p).resolve()) for p in {sys.base_prefix, sys.base_exec_prefix})
    stdlib = [p for p in sys.path if p and "site-packages" not in p and str(Path(p).resolve()).startswith(prefixes)]
    packages = [p for p in site.getsitepackages() if os.path.isdir(p)]
    return list(dict.fromkeys(stdlib + packages))


class LocalRuntime:
    """Start with ``with LocalRuntime(...) as rt`` (or ``start()`` / ``stop()``).

    ``api_port`` / ``aws_port`` 0 pick free ports. ``clock`` (or env AUDIENS_CLOCK) sets the start of the
    local clock. ``parameters`` override template parameters; ``pool_sizes`` the worker count per function.
    Only one runtime at a time per process: moto's state is process-wide and is reset at start.
    ``dynamodb_limits``: DynamoDB's limits in front of moto (``dynamodb_limits.py``): None reads
    AUDIENS_DYNAMODB_LIMITS / AUDIENS_FAULT_RATE..., False turns them off, or an engine to use.
    ``function_timeouts`` (logical id -> seconds) replaces a function's template Timeout, for a test that
    makes a handler time out without waiting minutes.
    """

    def __init__(
        self,
        template: str | os.PathLike[str] = "template.yaml",
        *,
        api_port: int = 0,
        aws_port: int = 0,
        clock: str | datetime | None = None,
        parameters: dict[str, str] | None = None,
        pool_sizes: dict[str, int] | None = None,
        region: str | None = None,
        stack_name: str | None = None,
        function_log: str | os.PathLike[str] | None = None,
        state_dir: str | os.PathLike[str] | None = None,
        state_save_interval: float = 60.0,
        dynamodb_limits: Limits | bool | None = None,
        function_timeouts: dict[str, float] | None = None,
    ) -> None:
        self.template = Template.load(template)
        # Where the functions' own output (their CloudWatch logs) goes: the runtime's stdout/stderr by default.
        log = function_log or os.environ.get("AUDIENS_FUNCTION_LOG") or None
        self.function_log: str | None = str(log) if log else None
        self.region = region or os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION") or "us-east-1"
        self.stack_name = stack_name or os.environ.get("AUDIENS_STACK_NAME") or "audiens-local"
        start_clock = clock if clock is not None else os.environ.get("AUDIENS_CLOCK") or None
        self.clock = Clock(start_clock)
        self._clock_given = start_clock is not None
        # Kept across restarts only when asked (``make up``); tests and the demo start from a fresh state.
        self.state = StateStore(self, state_dir, state_save_interval) if state_dir is not None else None
        self._api_port = api_port
        self._aws_port = aws_port
        if dynamodb_limits is None or dynamodb_limits is True:
            dynamodb_limits = Limits.from_env()
        self.limits: Limits | None = dynamodb_limits or None
        self._function_timeouts = dict(function_timeouts or {})
        self._parameter_overrides = dict(parameters or {})
        self._pool_sizes = {**DEFAULT_POOL_SIZES, **_pool_sizes_from_env(), **(pool_sizes or {})}
        self.pools: dict[str, FunctionPool] = {}
        self.apis: list[RestApi] = []
        self.pollers: list[_Poller] = []
        self.parameters: dict[str, Any] = {}
        self.ready_seconds: float | None = None
        self._froze = False
        self._started = False
        self._stopped = False
        self._previous_sigterm: Any = None
        self.gateway: Gateway = None  # type: ignore[assignment]
        self.moto: Moto = None  # type: ignore[assignment]
        self.catalog: Catalog = None  # type: ignore[assignment]
        self.scheduler: Scheduler = None  # type: ignore[assignment]

    # ------------------------------------------------------------------------------------------ public
    @property
    def api_url(self) -> str:
        return str(self.gateway.url)

    @property
    def aws_endpoint(self) -> str:
        return self.moto.endpoint

    def resource(self, logical_id: str) -> str:
        """The physical id of a template resource: table name, queue URL, bucket name, function name..."""
        if logical_id not in self.template.resources:
            raise KeyError(f"{logical_id} is not a resource of {self.template.path.name}")
        return str(self.catalog.ref(logical_id))

    def client(self, service: str) -> Any:
        """A boto3 client on the local moto (dummy credentials, the runtime's region)."""
        return self.moto.client(service)

    def invoke(self, function_id: str, event: Any) -> Invocation:
        """Invoke a function directly (like ``sam local invoke``)."""
        return self.pools[function_id].invoke(event, "direct")

    def outbox(self) -> list[dict[str, Any]]:
        return self.moto.outbox()

    def __enter__(self) -> LocalRuntime:
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    # ------------------------------------------------------------------------------------------- start
    def start(self) -> LocalRuntime:
        if self._started:
            return self
        self._started = True
        started = time.monotonic()
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        # moto's and botocore's modules and models, and any restored state, are ~400,000 objects that live as
        # long as the runtime; every full collection walked them all again: a 250-300 ms pause of every
        # request in flight, the p99 of the heavier views. Frozen, it walks what came since (10-40 ms).
        gc.collect()
        gc.freeze()
        self._froze = True
        self.ready_seconds = time.monotonic() - started
        log.info("local runtime ready in %.2f s: API %s, AWS %s", self.ready_seconds, self.api_url, self.aws_endpoint)
        return self

    def _start(self) -> None:
        from .gateway import Gateway

        # moto's CloudFormation imports every moto service (seconds): begin while the rest is set up. Both that
        # thread and this one (moto's server) import werkzeug, whose modules import each other: imported at the
        # same time, one thread can meet a partly initialised module and fail. So werkzeug is imported first.
        importlib.import_module("werkzeug.serving")
        threading.Thread(target=importlib.import_module, args=("moto.cloudformation.parsing",), daemon=True).start()
        self._install_sigterm()
        self._restore_clock()
        self.gateway = Gateway(self, self._api_port)  # bound first: PublicBaseUrl needs its port
        self.parameters = self.template.parameter_values(self._local_parameters())
        self.moto = Moto(self._aws_port, self.region)
        self.moto.start()
        self.moto.record_ses_send_times(self.clock.now)
        self.moto.record_sqs_send_times(self.clock.now)
        self._create_stack()
        self._verify_ses_identities()
        if self.state is not None:  # before any event source exists: restored objects fire no S3 event
            log.info("state: restored %s from %s", self.state.restore(), self.state.snapshot)
        self._enforce_limits()  # after the restore: putting the state back is not traffic
        self._connect_event_sources()
        self._start_serving()

    def _restore_clock(self) -> None:
        """The saved clock's offset, unless the caller gave the clock."""
        if self.state is not None and not self._clock_given:
            offset = self.state.saved_clock_offset()
            if offset is not None:
                self.clock.set_offset(offset)

    def _create_stack(self) -> None:
        """The template's resources in moto, with the functions' workers started as soon as their ids are known."""
        self.catalog = Catalog(self.template, self.parameters, self.region, ACCOUNT_ID, self.stack_name)
        plan = plan_stack(self.catalog)
        self.catalog.physical.update(plan.predicted)
        try:  # the physical ids are known before the stack exists: start the API's workers meanwhile
            self._prepare_functions()
        except PhysicalIdPendingError as pending:
            log.info("workers start after the stack: %s", pending)
        mismatched = create_stack(self.moto, self.catalog, plan, self.parameters)
        if mismatched or not self.pools:
            if mismatched:
                log.warning("stack: physical ids differ from the plan (%s); restarting workers", mismatched)
            for pool in self.pools.values():
                pool.stop()
            self._prepare_functions()

    def _enforce_limits(self) -> None:
        """DynamoDB's limits in front of moto, when on (``dynamodb_limits``)."""
        if self.limits is None:
            return
        dynamodb = self.moto.client("dynamodb")
        self.limits.learn_tables(dynamodb)
        if self.limits.describe is None:  # tables created later (by a test, say) are described when met
            self.limits.describe = lambda name: dict(dynamodb.describe_table(TableName=name)["Table"])
        self.moto.limits = self.limits
        log.info(
            "dynamodb: DynamoDB's limits enforced (faults %.1f %%, time scale %g)",
            self.limits.fault_rate * 100,
            self.limits.time_scale,
        )

    def _connect_event_sources(self) -> None:
        """A poller per SQS and EventBridge event of an enabled function, and the scheduler of its schedules."""
        for event in self.template.events():
            if event.type not in SUPPORTED_EVENTS:
                log.warning("%s.%s: event type %s is not emulated locally", event.function_id, event.name, event.type)
        for event in self.template.events("SQS"):
            if event.function_id in self.pools:
                self.pollers.append(SqsSource(self, event))
        for event in self.template.events("EventBridgeRule"):
            if event.function_id in self.pools:
                self.pollers.append(EventBridgeSource(self, event))
        self.scheduler = Scheduler(
            self, [e for e in self.template.events("Schedule", "ScheduleV2") if e.function_id in self.pools]
        )

    def _start_serving(self) -> None:
        """The API once its eager functions are ready, then the event sources, the scheduler and the state's saver."""
        for function_id in self._eager_functions():
            if not self.pools[function_id].wait_ready():
                log.error("%s: no worker came up; its routes answer 502 until one does", function_id)
        self.gateway.start()
        for poller in self.pollers:
            if poller.enabled:
                poller.start()
        self.scheduler.start()
        if self.state is not None:
            self.state.start()

    def _prepare_functions(self) -> None:
        """A pool per function and the API's routes; the API's pools start at once, the others on first use."""
        pools = {}
        for function_id, resource in self.template.functions():
            if self.catalog.enabled(function_id):
                spec = self._function_spec(function_id, resource)
                pools[function_id] = FunctionPool(spec, size=max(1, self._pool_sizes.get(function_id, 1)))
        self.pools = pools
        self._build_apis()
        for function_id in self._eager_functions():
            self.pools[function_id].start()

    def _eager_functions(self) -> set[str]:
        eager = {route.function_id for api in self.apis for route in api.routes}
        return eager | {authorizer.function_id for api in self.apis for authorizer in api.authorizers.values()}

    def _local_parameters(self) -> dict[str, str]:
        local = {
            "Stage": "local",
            "OperatorKeyHash": hashlib.sha256(operator_key().encode()).hexdigest(),
            "PublicBaseUrl": self.gateway.url,
        }
        return {**local, **self._parameter_overrides}

    def _install_sigterm(self) -> None:
        """SIGTERM unwinds like Ctrl-C (so ``with`` blocks stop the runtime), when nobody else handles it."""
        if threading.current_thread() is not threading.main_thread():
            return
        if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:

            def on_sigterm(signum: int, frame: Any) -> None:
                raise SystemExit(128 + signum)

            self._previous_sigterm = signal.signal(signal.SIGTERM, on_sigterm)

    def _verify_ses_identities(self) -> None:
        """Every e-mail address among the parameters (SenderEmail...) is a verified SES identity locally."""
        addresses = {v for v in self.parameters.values() if isinstance(v, str) and EMAIL.match(v)}
        for logical_id, _ in self.template.of_type("AWS::SES::EmailIdentity"):
            addresses.add(str(self.catalog.resolve(self.catalog.properties(logical_id)).get("EmailIdentity")))
        ses = self.moto.client("ses")
        for address in sorted(addresses):
            ses.verify_email_identity(EmailAddress=address)
            log.info("ses: %s verified", address)

    def _function_spec(self, function_id: str, resource: dict[str, Any]) -> dict[str, Any]:
        props = resource.get("Properties") or {}
        catalog = self.catalog
        code_uri = catalog.resolve(props.get("CodeUri"))
        if not isinstance(code_uri, str):
            raise ValueError(f"{function_id}: only a local CodeUri folder is supported (got {code_uri!r})")
        code_dir = (self.template.root / code_uri).resolve()
        layer_dirs = []
        for layer in props.get("Layers") or []:
            target = layer.get("Ref") if isinstance(layer, dict) else None
            layer_resource = self.template.resources.get(str(target)) or {}
            content = (layer_resource.get("Properties") or {}).get("ContentUri")
            if isinstance(content, str):
                layer_dirs.append(str((self.template.root / content).resolve()))
            else:
                log.warning("%s: layer %r has no local ContentUri; skipped", function_id, layer)
        name = catalog.function_name(function_id)
        try:
            variables = catalog.resolve((props.get("Environment") or {}).get("Variables") or {})
        except PhysicalIdPendingError:
            raise
        except IntrinsicError as error:
            raise ValueError(f"{function_id}: cannot resolve its environment: {error}") from error
        memory = int(catalog.resolve(props.get("MemorySize", 128)))
        timeout = self._function_timeouts.get(function_id, int(catalog.resolve(props.get("Timeout", 3))))
        logging_config = catalog.resolve(props.get("LoggingConfig") or {})
        log_group = str(logging_config.get("LogGroup") or f"/aws/lambda/{name}")
        runtime_name = str(props.get("Runtime", "python3.11"))
        handler = str(props["Handler"])
        env = {
            "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
            "LANG": "en_US.UTF-8",
            "TZ": ":UTC",
        }
        env.update({str(k): _env_value(v) for k, v in variables.items()})
        env.update(
            {
                "AWS_REGION": self.region,
                "AWS_DEFAULT_REGION": self.region,
                "AWS_LAMBDA_FUNCTION_NAME": name,
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory),
                "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
                "AWS_LAMBDA_LOG_GROUP_NAME": log_group,
                "AWS_LAMBDA_LOG_STREAM_NAME": f"{datetime.now(UTC):%Y/%m/%d}/[$LATEST]{uuid.uuid4().hex}",
                "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
                "AWS_EXECUTION_ENV": f"AWS_Lambda_{runtime_name}",
                "LAMBDA_TASK_ROOT": str(code_dir),
                "LAMBDA_RUNTIME_DIR": sys.prefix,
                "_HANDLER": handler,
                **DUMMY_CREDENTIALS,
                "AWS_ENDPOINT_URL": self.moto.endpoint,
                "AWS_ENDPOINT_URL_API_GATEWAY": f"{self.gateway.url}/_local/apigateway",
                "AWS_CONFIG_FILE": os.devnull,
                "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
                "AWS_EC2_METADATA_DISABLED": "true",
                "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
                "POWERTOOLS_TRACE_DISABLED": "true",
            }
        )
        return {
            "function_id": function_id,
            "function_name": name,
            "handler": handler,
            "code_dir": str(code_dir),
            "layer_dirs": layer_dirs,
            "base_paths": _base_python_paths(),
            "env": env,
            "memory_mb": memory,
            "timeout_s": timeout,
            "arn": catalog.get_att(function_id, "Arn"),
            "log_group": log_group,
            "log_stream": env["AWS_LAMBDA_LOG_STREAM_NAME"],
            "log_path": self.function_log,
        }

    def _build_apis(self) -> None:
        catalog = self.catalog
        by_logical: dict[str, RestApi] = {}
        function_by_name = {catalog.function_name(f): f for f in self.pools}
        for logical_id, resource in self.template.of_type("AWS::Serverless::Api"):
            if not catalog.enabled(logical_id):
                continue
            raw = resource.get("Properties") or {}
            props = catalog.resolve(raw)
            auth = props.get("Auth") or {}
            authorizers: dict[str, Authorizer] = {}
            for name, spec in (auth.get("Authorizers") or {}).items():
                raw_arn = ((raw.get("Auth") or {}).get("Authorizers") or {}).get(name, {}).get("FunctionArn")
                function_id = _function_of(raw_arn, spec.get("FunctionArn"), function_by_name)
                if function_id not in self.pools:
                    raise ValueError(f"{logical_id}: authorizer {name} points at no function of the template")
                if str(spec.get("FunctionPayloadType", "TOKEN")).upper() != "TOKEN":
                    raise ValueError(f"{logical_id}: authorizer {name}: only TOKEN authorizers are emulated")
                identity = spec.get("Identity") or {}
                expression = identity.get("ValidationExpression")
                authorizers[name] = Authorizer(
                    name=name,
                    function_id=function_id,
                    header=str(identity.get("Header") or "Authorization"),
                    validation=re.compile(expression) if expression else None,
                    ttl_s=int(identity.get("ReauthorizeEvery", 300)),
                )
            api = RestApi(
                logical_id=logical_id,
                api_id=str(catalog.ref(logical_id)),
                stage=str(props.get("StageName") or "Prod"),
                default_authorizer=auth.get("DefaultAuthorizer"),
                authorizers=authorizers,
                gateway_responses=dict(props.get("GatewayResponses") or {}),
                binary_media_types=list(props.get("BinaryMediaTypes") or []),
            )
            by_logical[logical_id] = api
        for event in self.template.events("Api"):
            if event.function_id not in self.pools:
                continue
            raw_api = event.properties.get("RestApiId", {"Ref": "ServerlessRestApi"})
            api_logical = raw_api.get("Ref") if isinstance(raw_api, dict) else raw_api
            target = by_logical.get(str(api_logical))
            if target is None:
                log.warning("%s.%s: API %r not found; route skipped", event.function_id, event.name, api_logical)
                continue
            props = catalog.resolve(event.properties)
            authorizer_name = (props.get("Auth") or {}).get("Authorizer", target.default_authorizer)
            if authorizer_name in (None, "NONE"):
                authorizer = None
            elif authorizer_name in target.authorizers:
                authorizer = str(authorizer_name)
            else:
                raise ValueError(f"{event.function_id}.{event.name}: authorizer {authorizer_name} is not emulated")
            target.routes.append(
                Route.create(event.function_id, event.name, str(props["Path"]), str(props["Method"]), authorizer)
            )
        self.apis = [api for api in by_logical.values() if api.routes]

    # -------------------------------------------------------------------------------------------- idle
    def _watched_queues(self) -> list[str]:
        return [poller.queue_url for poller in self.pollers if poller.enabled]

    def _queue_depth(self, url: str) -> int:
        attributes = self.moto.client("sqs").get_queue_attributes(
            QueueUrl=url,
            AttributeNames=[
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
                "ApproximateNumberOfMessagesDelayed",
            ],
        )["Attributes"]
        return sum(int(v) for v in attributes.values())

    def wait_idle(self, timeout: float = 10.0) -> None:
        """Block until no schedule is due, every polled queue and tap is empty and no function is running.

        Raises StillBusyError (a TimeoutError) naming what is still busy when ``timeout`` runs out.
        """
        deadline = time.monotonic() + timeout
        quiet = 0
        while True:
            busy: list[str] = []
            if not self.scheduler.wait_idle(max(0.0, deadline - time.monotonic())):
                busy.append("schedules")
            busy += [f"{p.function_id} running" for p in self.pools.values() if p.in_flight]
            busy += [queue_name_of(url) for url in self._watched_queues() if self._queue_depth(url)]
            quiet = 0 if busy else quiet + 1
            if quiet >= 2:
                return
            if time.monotonic() > deadline:
                raise StillBusyError(timeout, busy)
            time.sleep(0.05)

    def queue_stats(self) -> list[dict[str, Any]]:
        sqs = self.moto.client("sqs")
        consumers = {p.queue_url: p.label for p in self.pollers}
        urls = sqs.list_queues(MaxResults=1000).get("QueueUrls", [])
        stats = []
        for url in sorted(urls):
            attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
            entry: dict[str, Any] = {
                "name": queue_name_of(url),
                "url": url,
                "visible": int(attributes.get("ApproximateNumberOfMessages", 0)),
                "in_flight": int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0)),
                "delayed": int(attributes.get("ApproximateNumberOfMessagesDelayed", 0)),
                "consumer": consumers.get(url),
                "dead_letter_queue": None,
            }
            redrive = attributes.get("RedrivePolicy")
            if redrive:
                policy = json.loads(redrive)
                dlq_name = queue_name_of(policy["deadLetterTargetArn"])
                dlq_url = sqs.get_queue_url(QueueName=dlq_name)["QueueUrl"]
                dlq = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["ApproximateNumberOfMessages"])
                entry["dead_letter_queue"] = {
                    "name": dlq_name,
                    "max_receive_count": int(policy.get("maxReceiveCount", 0)),
                    "messages": int(dlq["Attributes"]["ApproximateNumberOfMessages"]),
                }
            stats.append(entry)
        return stats

    # -------------------------------------------------------------------------------------------- stop
    def stop(self) -> None:
        if self._stopped or not self._started:
            return
        self._stopped = True
        if self.scheduler is not None:
            self.scheduler.stop()
        for poller in self.pollers:
            poller.signal_stop()
        if self.gateway is not None:
            self.gateway.stop()
        for pool in self.pools.values():
            pool.stop()
        for poller in self.pollers:
            poller.join(3)
        if self.state is not None and self.state.restored is not None and self.ready_seconds is not None:
            self.state.stop()
            try:
                self.state.save()
            except Exception:
                log.exception("state: the snapshot at stop failed; the previous one is kept")
        if self.moto is not None:
            self.moto.stop()
        if self._froze:
            gc.unfreeze()
        if self._previous_sigterm is not None:
            with contextlib.suppress(ValueError):
                signal.signal(signal.SIGTERM, self._previous_sigterm)
        log.info("local runtime stopped")


def _pool_sizes_from_env() -> dict[str, int]:
    """AUDIENS_POOL_SIZES="ApiFunction=4,EmailWorkerFunction=2": worker processes per function."""
    sizes = {}
    for item in os.environ.get("AUDIENS_POOL_SIZES", "").split(","):
        name, _, count = item.partition("=")
        if name.strip() and count.strip().isdigit():
            sizes[name.strip()] = int(count)
    return sizes


def _env_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


def _function_of(raw: Any, resolved: Any, function_by_name: dict[str, str]) -> str:
    """The function logical id an authorizer's FunctionArn designates (!GetAtt Fn.Arn or an ARN)."""
    if isinstance(raw, dict) and "Fn::GetAtt" in raw:
        target = raw["Fn::GetAtt"]
        return str(target.split(".", 1)[0] if isinstance(target, str) else target[0])
    return function_by_name.get(str(resolved).rsplit(":", 1)[-1], str(resolved))
