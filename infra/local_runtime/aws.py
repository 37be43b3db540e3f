"""moto, in this process: the AWS the functions talk to, plus the SES outbox read from its backend."""

from __future__ import annotations

import contextlib
import email
import email.policy
import errno
import functools
import io
import logging
import socket
import threading
import urllib.request
import zlib
from collections.abc import Callable
from datetime import datetime
from http import HTTPStatus
from typing import Any

import boto3
from botocore.config import Config

from . import dynamodb_limits, moto_patches, s3_auth

log = logging.getLogger("local_runtime")

ACCOUNT_ID = "123456789012"  # moto's default account; every ARN the runtime builds uses it
DUMMY_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing"}
# The access keys the local AWS knows (what a presigned URL must be signed with): the functions' own.
CREDENTIALS = {DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"]: DUMMY_CREDENTIALS["AWS_SECRET_ACCESS_KEY"]}


def _call_wsgi(app: Any, environ: dict[str, Any]) -> tuple[str, list[tuple[str, str]], bytes]:
    started: list[Any] = []
    chunks: list[bytes] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        started[:] = [status, headers]
        return chunks.append

    result = app(environ, start_response)
    try:
        chunks.extend(result)
    finally:
        if hasattr(result, "close"):
            result.close()
    return started[0], started[1], b"".join(chunks)


@functools.cache
def _server_request_class() -> Any:
    from moto.core.request import Request

    class ServerRequest(Request):  # what moto's Flask app builds: a request that came through a WSGI server
        from_wsgi_server = True

    return ServerRequest


def _dynamodb_direct(environ: dict[str, Any]) -> tuple[str, list[tuple[str, str]], bytes]:
    """A DynamoDB request straight to moto's DynamoHandler, as its Flask route would, minus Flask.

    Every API call the functions make to DynamoDB goes through here; skipping the service dispatcher,
    Flask's request context and CORS saves ~40% of moto's time per call.
    """
    from botocore.exceptions import ClientError
    from moto.dynamodb.responses import DynamoHandler

    request = _server_request_class()(environ)
    try:
        result = DynamoHandler.dispatch(request, request.raw_url, dict(request.headers))
    except ClientError as error:
        result = 400, {}, error.response["Error"]["Message"]
    status, headers, content = result if len(result) == 3 else (200, {}, result)
    data = content.encode("utf-8") if isinstance(content, str) else bytes(content or b"")
    code = int(status)
    reason = HTTPStatus(code).phrase if code in HTTPStatus._value2member_map_ else ""
    pairs = [(str(k), str(v)) for k, v in headers.items() if str(k).lower() != "status"]
    return f"{code} {reason}", pairs, data


def _dynamodb_limited(
    engine: dynamodb_limits.Limits, environ: dict[str, Any]
) -> tuple[str, list[tuple[str, str]], bytes]:
    """A DynamoDB request judged by the limits engine before and after moto (``dynamodb_limits``)."""
    operation = str(environ.get("HTTP_X_AMZ_TARGET", "")).rpartition(".")[2]
    body = environ["wsgi.input"].getvalue()
    attempt = engine.begin(operation, body)
    if attempt.answer is not None:
        return _limits_answer(attempt.answer)
    if attempt.body is not body:
        environ["wsgi.input"] = io.BytesIO(attempt.body)
        environ["CONTENT_LENGTH"] = str(len(attempt.body))
    try:
        status, headers, data = _dynamodb_direct(environ)
    except BaseException:
        engine.abandon(attempt)
        raise
    result = engine.finish(attempt, int(status.split(" ", 1)[0]), data)
    if isinstance(result, dynamodb_limits.Answer):
        return _limits_answer(result)
    if result is data:
        return status, headers, data
    kept = [(k, v) for k, v in headers if k.lower() not in ("content-length", "x-amz-crc32")]
    return status, [*kept, ("x-amz-crc32", str(zlib.crc32(result)))], result


def _limits_answer(answer: dynamodb_limits.Answer) -> tuple[str, list[tuple[str, str]], bytes]:
    data = answer.encoded()
    headers = [*answer.headers().items(), ("x-amz-crc32", str(zlib.crc32(data)))]
    return f"{answer.status} {HTTPStatus(answer.status).phrase}", headers, data


def _buffered_environ(environ: dict[str, Any], rfile: Any) -> dict[str, Any]:
    """The request's WSGI environ with its whole body read (chunked or by Content-Length) into memory."""
    if environ.get("wsgi.input_terminated"):
        body = environ["wsgi.input"].read()
    else:
        body = rfile.read(int(environ.get("CONTENT_LENGTH") or 0))
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    environ.pop("wsgi.input_terminated", None)
    return environ


def _route(command: str, path: str, headers: Any, environ: dict[str, Any]) -> tuple[bool, s3_auth.Refusal | None]:
    """Whether a request is DynamoDB's, and S3's refusal of its signature (None: signed well, or unsigned)."""
    dynamodb = command == "POST" and environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_2012")
    # A CORS preflight carries no credentials: S3 answers it from the bucket's CORS rules alone.
    unsigned = dynamodb or command == "OPTIONS"
    return dynamodb, None if unsigned else s3_auth.check(command, path, headers, CREDENTIALS)


def _moto_answer(
    command: str,
    path: str,
    route: tuple[bool, s3_auth.Refusal | None],
    environ: dict[str, Any],
    app: Any,
    limits: Callable[[], dynamodb_limits.Limits | None],
) -> tuple[str, list[tuple[str, str]], bytes]:
    """One request's answer: S3's refusal, DynamoDB (through the limits when on) or moto's app."""
    dynamodb, refusal = route
    if refusal is not None:
        status = f"{refusal.status} {HTTPStatus(refusal.status).phrase}"
        log.info("s3: %s %s refused: %s", command, path.partition("?")[0], refusal.code)
        return status, [("Content-Type", "application/xml")], refusal.xml()
    if not dynamodb:
        return _call_wsgi(app, environ)
    engine = limits()
    return _dynamodb_direct(environ) if engine is None else _dynamodb_limited(engine, environ)


def _keep_alive_response(command: str, status: str, headers: list[tuple[str, str]], data: bytes) -> bytes:
    """The response's bytes for a kept-alive connection: moto's headers but ``Connection``, with a Content-Length."""
    lines = [f"HTTP/1.1 {status}"]
    has_length = False
    for name, value in headers:
        if name.lower() == "connection":
            continue
        has_length = has_length or name.lower() == "content-length"
        lines.append(f"{name}: {value}")
    if not has_length:
        lines.append(f"Content-Length: {len(data)}")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return head + (b"" if command == "HEAD" else data)


def _keep_alive_moto_server(port: int, limits: Callable[[], dynamodb_limits.Limits | None] = lambda: None) -> Any:
    """moto's ThreadedMotoServer, serving HTTP/1.1 keep-alive.

    werkzeug's development server closes every connection, so each AWS call of a function pays a new
    TCP connection and a new server thread; under load that is most of the runtime's CPU. This handler
    reads the whole request, runs moto's WSGI app and writes one response with its Content-Length,
    keeping the connection open.
    """
    from moto.moto_server import werkzeug_app
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from moto.server import ThreadedMotoServer
    from werkzeug.serving import make_server

    connections: set[socket.socket] = set()
    lock = threading.Lock()

    class KeepAliveHandler(MotoRequestHandler):
        protocol_version = "HTTP/1.1"
        timeout = 120

        def setup(self) -> None:
            super().setup()
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with lock:
                connections.add(self.connection)

        def finish(self) -> None:
            with lock:
                connections.discard(self.connection)
            with contextlib.suppress(OSError):
                super().finish()

        def log_error(self, format: str, *args: Any) -> None:
            """An idle keep-alive connection timing out is routine (DEBUG); werkzeug logs it as an ERROR."""
            if format.startswith("Request timed out"):
                log.debug("moto: %s", format % args)
            else:
                log.error("moto: %s", format % args)

        def run_wsgi(self) -> None:
            if self.headers.get("Expect", "").lower().strip(" \t") == "100-continue":
                self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            environ = _buffered_environ(self.make_environ(), self.rfile)
            route = _route(self.command, self.path, self.headers, environ)
            try:
                status, headers, data = _moto_answer(self.command, self.path, route, environ, self.server.app, limits)
            except Exception:
                log.exception("moto failed on %s %s", self.command, self.path)
                status, headers = "500 INTERNAL SERVER ERROR", [("Content-Type", "text/plain")]
                data = b"moto failed; see the runtime's log"
            self.wfile.write(_keep_alive_response(self.command, status, headers, data))

    class KeepAliveMotoServer(ThreadedMotoServer):
        def start(self) -> None:
            """Bind in the caller's thread (a busy port raises here instead of hanging start())."""
            # moto's server answers every origin (flask-cors on all routes); S3 answers only what a bucket's
            # CORS rules allow, which moto's S3 handler applies once the global CORS is off: moto's documented
            # MOTO_DISABLE_GLOBAL_CORS setting, set on the module that read it at import.
            werkzeug_app.DISABLE_GLOBAL_CORS = True
            app = DomainDispatcherApplication(create_backend_app)
            try:
                self._server = make_server(self._ip_address, self._port, app, True, request_handler=KeepAliveHandler)
            except SystemExit:  # werkzeug exits the process when the port is taken
                raise OSError(
                    errno.EADDRINUSE, f"the AWS port 127.0.0.1:{self._port} is already in use (set AUDIENS_AWS_PORT)"
                ) from None
            self._thread = threading.Thread(target=self._server.serve_forever, name="moto", daemon=True)
            self._thread.start()
            self._server_ready_event.set()

        def stop(self) -> None:
            super().stop()
            with lock:
                for connection in list(connections):
                    with contextlib.suppress(OSError):
                        connection.shutdown(socket.SHUT_RDWR)

    return KeepAliveMotoServer(ip_address="127.0.0.1", port=port, verbose=False)


MAX_STAMPED_MESSAGES = 200_000  # in flight at once; older stamps are dropped (their messages keep moto's)


class Moto:
    def __init__(self, port: int, region: str) -> None:
        for name in ("werkzeug", "moto"):
            logging.getLogger(name).setLevel(logging.ERROR)
        self.region = region
        # DynamoDB's limits, judged here for every process's requests (None: moto as it is).
        self.limits: dynamodb_limits.Limits | None = None
        self._server = _keep_alive_moto_server(port, lambda: self.limits)
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._sent_at: dict[str, str] = {}
        self._sqs_sent: dict[str, str] = {}  # message id -> local-clock SentTimestamp (insertion ordered, bounded)
        self._restored_outbox: list[dict[str, Any]] = []
        self._now: Callable[[], datetime] | None = None
        self.endpoint = ""
        self._undo_speedups: Callable[[], None] | None = None

    def start(self) -> None:
        undo_speedups, undo_memory_fixes = moto_patches.speed_up_moto(), moto_patches.apply()

        def undo() -> None:
            undo_memory_fixes()
            undo_speedups()

        self._undo_speedups = undo
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"
        # moto's state is process-wide: a runtime started after another in the same process starts clean.
        urllib.request.urlopen(urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST"), timeout=10)

    def stop(self) -> None:
        if self.endpoint:
            self._server.stop()
        if self._undo_speedups is not None:
            self._undo_speedups()
            self._undo_speedups = None

    def client(self, service: str) -> Any:
        with self._lock:
            if service not in self._clients:
                # DynamoDB's transient faults (dynamodb_limits) are retried as DynamoDB's SDKs retry them.
                attempts = 10 if service == "dynamodb" else 3
                self._clients[service] = boto3.session.Session().client(
                    service,
                    endpoint_url=self.endpoint,
                    region_name=self.region,
                    aws_access_key_id=DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"],
                    aws_secret_access_key=DUMMY_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
                    config=Config(
                        max_pool_connections=64, retries={"total_max_attempts": attempts, "mode": "standard"}
                    ),
                )
            return self._clients[service]

    # ------------------------------------------------------------------------------------- SES outbox
    def _ses_backend(self) -> Any:
        from moto.ses.models import ses_backends

        return ses_backends[ACCOUNT_ID][self.region]

    def record_ses_send_times(self, now: Callable[[], datetime]) -> None:
        """moto keeps no send time: wrap this backend's send methods to stamp the local clock."""
        backend = self._ses_backend()
        self._now = now
        for name in ("send_email", "send_raw_email", "send_templated_email", "send_bulk_templated_email"):
            original = getattr(backend, name, None)
            if original is None:
                continue

            def stamped(*args: Any, __original: Any = original, **kwargs: Any) -> Any:
                message = __original(*args, **kwargs)
                sent_at = now().strftime("%Y-%m-%dT%H:%M:%SZ")
                for message_id in getattr(message, "ids", None) or [getattr(message, "id", None)]:
                    if message_id:
                        self._sent_at[message_id] = sent_at
                return message

            setattr(backend, name, stamped)

    def record_sqs_send_times(self, now: Callable[[], datetime]) -> None:
        """The local clock's SentTimestamp of every message sent (``moto_patches.report_sqs_sends``), kept per
        message id and put in the records the pollers deliver: a worker's business time follows the local
        clock, as on AWS."""
        from moto.sqs.models import sqs_backends

        def stamp(message_id: str) -> None:
            with self._lock:
                self._sqs_sent[message_id] = str(int(now().timestamp() * 1000))
                while len(self._sqs_sent) > MAX_STAMPED_MESSAGES:
                    self._sqs_sent.pop(next(iter(self._sqs_sent)))

        moto_patches.report_sqs_sends(sqs_backends[ACCOUNT_ID][self.region], stamp)

    def sqs_sent_at(self, message_id: str) -> str | None:
        """The local clock's SentTimestamp (epoch ms) of a message sent since start, else None."""
        with self._lock:
            return self._sqs_sent.get(message_id)

    def forget_sqs_message(self, message_id: str) -> None:
        with self._lock:
            self._sqs_sent.pop(message_id, None)

    def outbox(self) -> list[dict[str, Any]]:
        emails = list(self._restored_outbox)
        for message in list(self._ses_backend().sent_messages):
            emails.append(self._describe(message))
        return emails

    def restore_outbox(self, emails: list[dict[str, Any]]) -> None:
        """Emails sent before a restart (from the saved state): listed first in the outbox."""
        self._restored_outbox = list(emails)

    def queue_messages(self, queue_url: str) -> list[dict[str, Any]]:
        """A queue's messages as stored, read without receiving them (receiving would hide them from consumers)."""
        from moto.sqs.models import sqs_backends

        queue = sqs_backends[ACCOUNT_ID][self.region].queues.get(queue_url.rstrip("/").rsplit("/", 1)[-1])
        messages = []
        for message in list(getattr(queue, "_messages", [])):
            attributes = {}
            for name, value in (message.message_attributes or {}).items():
                text = value.get("StringValue", value.get("string_value"))
                if text is not None:
                    attributes[name] = {"DataType": value.get("DataType", value.get("data_type")), "StringValue": text}
            messages.append(
                {
                    "id": message.id,
                    "body": message.body,
                    "attributes": attributes,
                    "group_id": message.group_id,
                    "deduplication_id": message.deduplication_id,
                }
            )
        return messages

    def _describe(self, message: Any) -> dict[str, Any]:
        message_id = getattr(message, "id", None) or (getattr(message, "ids", None) or [""])[0]
        entry: dict[str, Any] = {
            "id": message_id,
            "source": message.source,
            "to": [],
            "cc": [],
            "bcc": [],
            "subject": getattr(message, "subject", None),
            "body": getattr(message, "body", None),
            "sent_at": self._sent_at.get(message_id),
        }
        destinations = getattr(message, "destinations", None)
        if isinstance(destinations, dict):
            entry["to"] = list(destinations.get("ToAddresses", []))
            entry["cc"] = list(destinations.get("CcAddresses", []))
            entry["bcc"] = list(destinations.get("BccAddresses", []))
        elif isinstance(destinations, list) and destinations and isinstance(destinations[0], dict):
            entry["to"] = [a for d in destinations for a in d.get("Destination", {}).get("ToAddresses", [])]
        elif isinstance(destinations, list):
            entry["to"] = list(destinations)
        if hasattr(message, "raw_data"):
            parsed = email.message_from_string(message.raw_data, policy=email.policy.default)
            entry["subject"] = str(parsed.get("Subject", ""))
            part = parsed.get_body(preferencelist=("plain", "html"))  # type: ignore[attr-defined]
            entry["body"] = part.get_content() if part is not None else ""
            if not entry["to"]:
                entry["to"] = [str(a) for a in parsed.get_all("To", [])]
        if hasattr(message, "template"):
            entry["subject"] = f"template:{message.template}"
            entry["body"] = message.template_data
        return entry
