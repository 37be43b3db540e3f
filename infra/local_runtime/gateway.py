"""The HTTP front door on 127.0.0.1: API Gateway emulation plus the runtime's own ``/_local/*`` and docs."""

from __future__ import annotations

import contextlib
import errno
import importlib.util
import json
import logging
import re
import socket
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlsplit

from . import apigw, console
from .apigw import MAX_BODY_BYTES, AuthorizerConfigurationError, MalformedResponseError, RestApi, Route
from .clock import rfc3339
from .runtime import StillBusyError

INTEGRATION_TIMEOUT_S = 29.0  # API Gateway's maximum integration timeout for REST APIs

if TYPE_CHECKING:
    from .runtime import LocalRuntime

log = logging.getLogger("local_runtime")

DRAIN_LIMIT = 64 * 1024 * 1024  # read and discard up to this much of a too-large body, to answer 413 cleanly
FLUSH_PATH = re.compile(r"^/_local/apigateway/restapis/([^/]+)/stages/([^/]+)/cache/authorizers/?$")
RUN_PATH = re.compile(r"^/_local/schedules/([^/]+)/run/?$")
DEFAULT_IDLE_TIMEOUT_S = 30
MAX_IDLE_TIMEOUT_S = 300
ALLOWED_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")  # API Gateway's

SWAGGER_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Audiens API (local)</title>
<link rel="stylesheet" href="{css}"></head>
<body><div id="swagger-ui"></div>
<script src="{js}"></script>
<script>window.ui = SwaggerUIBundle({{url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true,
  persistAuthorization: true}});</script>
</body></html>
"""


def error_body(code: str, message: str, details: list[Any] | None = None) -> bytes:
    return json.dumps({"error": {"code": code, "message": message, "details": details or []}}).encode()


def _invalid(request: _Handler, message: str, detail: dict[str, str]) -> None:
    request.respond(422, {"Content-Type": "application/json"}, error_body("validation_error", message, [detail]))


def _swagger_asset_dir() -> Path | None:
    spec = importlib.util.find_spec("aws_lambda_powertools")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "event_handler" / "openapi" / "swagger_ui"
    return folder if (folder / "swagger-ui-bundle.min.js").exists() else None


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], gateway: Gateway) -> None:
        self.gateway = gateway
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server
    timeout = 120  # an idle keep-alive connection is closed after this
    server_version = "AudiensLocalGateway/1.0"

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.server.connections_lock:
            self.server.connections.add(self.connection)

    def finish(self) -> None:
        with self.server.connections_lock:
            self.server.connections.discard(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("http %s", format % args)

    def _dispatch(self) -> None:
        try:
            self.server.gateway.handle(self)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except ValueError:  # an unreadable request (bad Content-Length or chunk size): answer and hang up
            self.close_connection = True
            self.respond(
                400, {"Content-Type": "application/json"}, error_body("bad_request", "Malformed HTTP request.")
            )

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _dispatch

    def __getattr__(self, name: str) -> Any:
        """Any other method (TRACE, CONNECT, PROPFIND...) is answered 405, not http.server's 501 HTML page."""
        if name.startswith("do_"):
            return self._unsupported_method
        raise AttributeError(name)

    def _unsupported_method(self) -> None:
        try:
            if self.read_body() is None:
                self.close_connection = True
        except ValueError:
            self.close_connection = True
        self.respond(
            405,
            {"Content-Type": "application/json", "Allow": ", ".join(ALLOWED_METHODS)},
            error_body(
                "method_not_allowed",
                f"The {self.command} method is not supported; use one of {', '.join(ALLOWED_METHODS)}.",
            ),
        )

    def respond(self, status: int, headers: list[tuple[str, str]] | dict[str, str], body: bytes) -> None:
        items = list(headers.items()) if isinstance(headers, dict) else list(headers)
        reason = self.responses.get(status, ("",))[0]
        lines = [f"HTTP/1.1 {status} {reason}"]
        lines += [f"{name}: {value}" for name, value in items if name.lower() not in ("content-length", "connection")]
        lines.append(f"Content-Length: {len(body)}")
        if self.close_connection:
            lines.append("Connection: close")
        payload = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", errors="replace")
        self.wfile.write(payload + (b"" if self.command == "HEAD" else body))

    def read_body(self) -> bytes | None:
        """The request body, or None when it is over the 6 MB limit (it is then drained, not kept)."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks, total = [], 0
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunk = self.rfile.read(size)
                self.rfile.readline()
                total += size
                if total <= MAX_BODY_BYTES:
                    chunks.append(chunk)
            return b"".join(chunks) if total <= MAX_BODY_BYTES else None
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            if length > DRAIN_LIMIT:
                self.close_connection = True
                return None
            remaining = length
            while remaining > 0:
                got = self.rfile.read(min(remaining, 1 << 20))
                if not got:
                    break
                remaining -= len(got)
            return None
        return self.rfile.read(length) if length else b""


class Gateway:
    def __init__(self, runtime: LocalRuntime, port: int) -> None:
        self.runtime = runtime
        # How long API Gateway waits for a Lambda integration before answering 504 INTEGRATION_TIMEOUT.
        self.integration_timeout_s = INTEGRATION_TIMEOUT_S
        try:
            self.server = _Server(("127.0.0.1", port), self)
        except OSError as error:
            if error.errno != errno.EADDRINUSE:
                raise
            raise OSError(
                errno.EADDRINUSE, f"the API port 127.0.0.1:{port} is already in use (set AUDIENS_API_PORT)"
            ) from None
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread: threading.Thread | None = None
        self._assets = _swagger_asset_dir()
        self._console = console.BUCKET in runtime.template.resources  # the template serves a web console

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.2}, name="gateway", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self.server.shutdown()
            self._thread.join(5)
        with self.server.connections_lock:
            for connection in list(self.server.connections):
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)
        self.server.server_close()

    # ------------------------------------------------------------------------------------------------
    def handle(self, request: _Handler) -> None:
        url = urlsplit(request.path)
        path = unquote(url.path or "/")
        request_id = str(uuid.uuid4())
        if path.startswith("/_local/") or path in ("/docs", "/docs/", "/openapi.json") or path.startswith("/docs/"):
            body = request.read_body()
            if body is None:
                request.respond(
                    413,
                    {"Content-Type": "application/json"},
                    error_body("payload_too_large", "The request body is larger than the 6 MB limit."),
                )
                return
            self._local(request, request.command, path, body)
            return
        if self._console and console.is_console_path(request.command, path):
            console.serve(request, path)
            return
        self._api(request, path, url.query, request_id)

    def _api(self, request: _Handler, path: str, query_string: str, request_id: str) -> None:
        runtime = self.runtime
        method = request.command
        apis = runtime.apis
        if not apis:
            request.respond(
                404, {"Content-Type": "application/json"}, error_body("not_found", "This template has no API.")
            )
            return
        epoch_ms = runtime.clock.now_ms()  # stamped on arrival, like API Gateway
        body = request.read_body()
        found: tuple[RestApi, Route, dict[str, str]] | None = None
        best: tuple[Any, ...] | None = None
        for candidate in apis:
            hit = candidate.find(method, path)
            if hit is not None and (best is None or hit[0] > best):
                best, found = hit[0], (candidate, hit[1], hit[2])
        api = found[0] if found else apis[0]
        if body is None:
            self._gateway(request, api, "REQUEST_TOO_LARGE", request_id)
            return
        if found is None:
            self._gateway(request, api, "MISSING_AUTHENTICATION_TOKEN", request_id)
            return
        _, route, params = found
        headers = list(request.headers.items())
        authorizer_context = None
        if route.authorizer:
            outcome = self._authorize(api, route, method, path, headers, request_id)
            if isinstance(outcome, str):
                self._gateway(request, api, outcome, request_id)
                return
            authorizer_context = outcome
        event = apigw.build_proxy_event(
            api=api,
            route=route,
            method=method,
            path=path,
            path_params=params,
            headers=headers,
            query=parse_qsl(query_string, keep_blank_values=True),
            body=body,
            source_ip=request.client_address[0],
            request_id=request_id,
            epoch_ms=epoch_ms,
            host=request.headers.get("Host", f"127.0.0.1:{self.port}"),
            authorizer=authorizer_context,
        )
        invocation = self._integrate(runtime.pools[route.function_id], event, f"api {method} {path}")
        if invocation is None:  # API Gateway stopped waiting; the function runs on to its own timeout
            log.error("%s: no answer within API Gateway's %g s: 504", route.function_id, self.integration_timeout_s)
            self._gateway(request, api, "INTEGRATION_TIMEOUT", request_id)
            return
        if not invocation.ok:
            self._gateway(request, api, "DEFAULT_5XX", request_id, status=502)
            return
        try:
            accept = next((value for name, value in headers if name.lower() == "accept"), "")
            status, response_headers, data = apigw.map_proxy_result(
                invocation.payload, decode_binary=api.accepts_binary(accept)
            )
        except MalformedResponseError as error:
            log.error("%s: malformed Lambda proxy response (%s)", route.function_id, error)
            self._gateway(request, api, "DEFAULT_5XX", request_id, status=502)
            return
        response_headers.append(("x-amzn-RequestId", request_id))
        request.respond(status, response_headers, data)

    def _integrate(self, pool: Any, event: dict[str, Any], trigger: str) -> Any:
        """The function's invocation, or None when it outlasts API Gateway's integration timeout (29 s)."""
        if pool.timeout_s <= self.integration_timeout_s:
            return pool.invoke(event, trigger)
        outcome: list[Any] = []
        worker = threading.Thread(target=lambda: outcome.append(pool.invoke(event, trigger)), daemon=True)
        worker.start()
        worker.join(self.integration_timeout_s)
        return outcome[0] if outcome else None

    def _authorize(
        self, api: RestApi, route: Route, method: str, path: str, headers: list[tuple[str, str]], request_id: str
    ) -> dict[str, Any] | str:
        """The authorizer context for the event, or the gateway response type that refuses the request."""
        authorizer = api.authorizers[route.authorizer or ""]
        token = next((v for k, v in headers if k.lower() == authorizer.header.lower()), None)
        if not token or (authorizer.validation is not None and not authorizer.validation.fullmatch(token)):
            return "UNAUTHORIZED"
        method_arn = f"arn:aws:execute-api:{self.runtime.region}:123456789012:{api.api_id}/{api.stage}/{method}{path}"
        response = authorizer.cached(token)
        if response is None:
            event = {"type": "TOKEN", "authorizationToken": token, "methodArn": method_arn}
            invocation = self.runtime.pools[authorizer.function_id].invoke(event, f"authorizer {method} {path}")
            if not invocation.ok:
                return "UNAUTHORIZED" if invocation.error_message == "Unauthorized" else "AUTHORIZER_FAILURE"
            response = invocation.payload
            try:
                apigw.evaluate_policy(response, method_arn)
            except AuthorizerConfigurationError as error:
                log.error("%s: %s", authorizer.function_id, error)
                return "AUTHORIZER_CONFIGURATION_ERROR"
            authorizer.remember(token, response)
        try:
            if not apigw.evaluate_policy(response, method_arn):
                return "ACCESS_DENIED"
            return apigw.authorizer_context(response)
        except AuthorizerConfigurationError as error:
            log.error("%s: %s", authorizer.function_id, error)
            return "AUTHORIZER_CONFIGURATION_ERROR"

    def _gateway(
        self, request: _Handler, api: RestApi, response_type: str, request_id: str, status: int | None = None
    ) -> None:
        code, headers, body = api.gateway_response(response_type, request_id=request_id, status=status)
        request.respond(code, headers, body)

    # ------------------------------------------------------------------------------------------------
    def _json(self, request: _Handler, status: int, payload: Any) -> None:
        request.respond(status, {"Content-Type": "application/json"}, json.dumps(payload).encode())

    def _local(self, request: _Handler, method: str, path: str, body: bytes) -> None:
        runtime = self.runtime
        if path == "/_local/clock" and method == "GET":
            self._json(request, 200, {"now": rfc3339(runtime.clock.now())})
        elif path == "/_local/clock" and method == "POST":
            self._set_clock(request, body)
        elif path == "/_local/idle" and method == "POST":
            self._idle(request, body)
        elif path == "/_local/schedules" and method == "GET":
            self._json(request, 200, {"schedules": runtime.scheduler.describe()})
        elif (match := RUN_PATH.match(path)) and method == "POST":
            self._run_schedule(request, unquote(match.group(1)))
        elif path == "/_local/outbox" and method == "GET":
            self._json(request, 200, {"emails": runtime.moto.outbox()})
        elif path == "/_local/queues" and method == "GET":
            self._json(request, 200, {"queues": runtime.queue_stats()})
        elif path == "/_local/health" and method == "GET":
            self._json(request, 200, {"status": "ok", "now": rfc3339(runtime.clock.now())})
        elif (match := FLUSH_PATH.match(path)) and method == "DELETE":
            self._flush(request, match.group(1), match.group(2))
        elif path in ("/docs", "/docs/") and method in ("GET", "HEAD"):
            assets = "/docs/" if self._assets else "https://unpkg.com/swagger-ui-dist@5/"
            html = SWAGGER_HTML.format(
                css=assets + "swagger-ui.min.css" if self._assets else assets + "swagger-ui.css",
                js=assets + "swagger-ui-bundle.min.js" if self._assets else assets + "swagger-ui-bundle.js",
            )
            request.respond(200, {"Content-Type": "text/html; charset=utf-8"}, html.encode())
        elif path.startswith("/docs/") and method in ("GET", "HEAD") and self._assets:
            name = path.rsplit("/", 1)[-1]
            types = {"swagger-ui-bundle.min.js": "application/javascript", "swagger-ui.min.css": "text/css"}
            if name in types:
                request.respond(
                    200,
                    {"Content-Type": types[name], "Cache-Control": "max-age=3600"},
                    (self._assets / name).read_bytes(),
                )
            else:
                request.respond(404, {"Content-Type": "application/json"}, error_body("not_found", "No such file."))
        elif path == "/openapi.json" and method in ("GET", "HEAD"):
            document = runtime.template.root / "docs" / "openapi.json"
            if document.exists():
                request.respond(200, {"Content-Type": "application/json"}, document.read_bytes())
            else:
                request.respond(
                    404,
                    {"Content-Type": "application/json"},
                    error_body("not_found", "docs/openapi.json has not been generated yet."),
                )
        else:
            request.respond(
                404,
                {"Content-Type": "application/json"},
                error_body("not_found", f"No local endpoint {method} {path}."),
            )

    def _payload(self, request: _Handler, body: bytes) -> dict[str, Any] | None:
        """The JSON object of a ``/_local`` POST ({} for no body); None once a 400/422 has been answered."""
        try:
            payload = json.loads(body) if body.strip() else {}
        except ValueError:
            request.respond(
                400,
                {"Content-Type": "application/json"},
                error_body("malformed_json", "The request body is not valid JSON."),
            )
            return None
        if not isinstance(payload, dict):
            request.respond(
                422,
                {"Content-Type": "application/json"},
                error_body("validation_error", "The request body must be a JSON object."),
            )
            return None
        return payload

    def _wait_options(self, request: _Handler, payload: dict[str, Any]) -> float | None:
        """The ``timeout`` (seconds) of a waiting request; None once a 422 has been answered."""
        timeout = payload.get("timeout", DEFAULT_IDLE_TIMEOUT_S)
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 < timeout <= MAX_IDLE_TIMEOUT_S:
            _invalid(
                request,
                f"timeout is a number of seconds, more than 0 and at most {MAX_IDLE_TIMEOUT_S}.",
                {"field": "timeout", "code": "invalid_timeout", "message": f"got {timeout!r}"},
            )
            return None
        return float(timeout)

    def _answer_when_idle(self, request: _Handler, timeout: float, reply: dict[str, Any]) -> None:
        started = time.monotonic()
        try:
            self.runtime.wait_idle(timeout=timeout)
        except StillBusyError as error:
            request.respond(
                504,
                {"Content-Type": "application/json"},
                error_body("still_busy", f"The local runtime is still busy after {timeout:g} s.", error.busy),
            )
            return
        waited_ms = round((time.monotonic() - started) * 1000)
        self._json(request, 200, {**reply, "idle": True, "waited_ms": waited_ms})

    def _idle(self, request: _Handler, body: bytes) -> None:
        payload = self._payload(request, body)
        timeout = None if payload is None else self._wait_options(request, payload)
        if timeout is not None:
            self._answer_when_idle(request, timeout, {"now": rfc3339(self.runtime.clock.now())})

    def _set_clock(self, request: _Handler, body: bytes) -> None:
        payload = self._payload(request, body)
        if payload is None:
            return
        value = payload.get("now")
        wait = payload.get("wait", False)
        try:
            if not isinstance(value, str):
                raise ValueError("now must be an RFC 3339 string")
            if not isinstance(wait, bool):
                raise TypeError("wait must be true or false")
            timeout = self._wait_options(request, payload) if wait else 0.0
            if timeout is None:
                return
            moment = self.runtime.clock.set(value)
        except TypeError as error:
            _invalid(
                request,
                'Send {"now": "<RFC 3339 time>", "wait": true} to wait for the work the new time triggers.',
                {"field": "wait", "code": "invalid_wait", "message": str(error)},
            )
            return
        except ValueError as error:
            _invalid(
                request,
                'Send {"now": "<RFC 3339 time>"}, e.g. {"now": "2026-11-06T00:00:00Z"}.',
                {"field": "now", "code": "invalid_time", "message": str(error)},
            )
            return
        if not wait:
            self._json(request, 200, {"now": rfc3339(moment)})
            return
        self.runtime.scheduler.check()  # the occurrences the jump passed are queued before the wait starts
        self._answer_when_idle(request, timeout, {"now": rfc3339(moment)})

    def _run_schedule(self, request: _Handler, name: str) -> None:
        schedule = self.runtime.scheduler.find(name)
        if schedule is None:
            request.respond(
                404,
                {"Content-Type": "application/json"},
                error_body(
                    "not_found", f"No schedule named {name!r}.", [s["name"] for s in self.runtime.scheduler.describe()]
                ),
            )
            return
        result = self.runtime.scheduler.run_now(schedule)
        self._json(request, 200 if result["status"] == "succeeded" else 502, result)

    def _flush(self, request: _Handler, api_id: str, stage: str) -> None:
        apis = [api for api in self.runtime.apis if api.api_id == api_id and api.stage == stage]
        if not apis:
            request.respond(
                404,
                {"Content-Type": "application/json", "x-amzn-ErrorType": "NotFoundException"},
                json.dumps({"message": f"Invalid API identifier or stage: {api_id}/{stage}"}).encode(),
            )
            return
        for api in apis:
            for authorizer in api.authorizers.values():
                authorizer.flush()
        log.info("authorizer cache flushed for %s/%s", api_id, stage)
        request.respond(202, {"Content-Type": "application/json"}, b"")
