"""moto, in this process: the AWS the functions talk to, plus the SES outbox read from its backend."""

from __future__ import annotations

import base64
import email
import email.policy
import json
import logging
import threading
import urllib.request
from collections.abc import Callable
from datetime import datetime
from typing import Any

import boto3
from botocore.config import Config

log = logging.getLogger("local_runtime")

ACCOUNT_ID = "123456789012"  # moto's default account; every ARN the runtime builds uses it
DUMMY_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing"}


# DynamoDB data-plane operations: their results are already wire-format JSON (AttributeValue maps).
FAST_DYNAMODB_OPERATIONS = frozenset({
    "GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan",
    "BatchGetItem", "BatchWriteItem", "TransactGetItems", "TransactWriteItems",
})


def _blob(value: Any) -> str:
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def speed_up_moto() -> Callable[[], None]:
    """Make moto's server cheaper per request; returns the function that undoes it.

    moto 5.2.5 serializes every response by walking the botocore output shape: about 1.3 ms of the
    runtime's CPU for one GetItem of a 10-attribute item, which caps the whole local API at ~200 req/s
    on two cores. DynamoDB data-plane results are already in wire format, so for those operations the
    result is dumped directly (keeping only the output shape's members, blobs base64-encoded, like the
    serializer); tests/functional/test_local_runtime.py checks both give the same response. It also
    caches moto's directory listing that its dispatcher otherwise repeats on every request.
    """
    from botocore.model import ServiceModel
    from moto import backends
    from moto.core import responses
    from moto.core.responses import ActionResult, get_service_model

    original_list = backends.list_of_moto_modules
    original_serialized = responses.BaseResponse.serialized
    modules = list(original_list())
    members: dict[str, frozenset[str]] = {}
    service: list[ServiceModel] = []

    def serialized(self: Any, action_result: Any) -> Any:
        result = action_result.result
        if (type(action_result).execute_result is ActionResult.execute_result and isinstance(result, dict)
                and self.boto3_service_name == "dynamodb"):
            action = self._get_action()
            if action in FAST_DYNAMODB_OPERATIONS:
                if action not in members:
                    if not service:
                        service.append(get_service_model("dynamodb"))
                    members[action] = frozenset(service[0].operation_model(action).output_shape.members)
                keep = members[action]
                body = json.dumps({k: v for k, v in result.items() if k in keep}, default=_blob)
                return 200, {"Content-Type": "application/x-amz-json-1.0", **self.response_headers}, body
        return original_serialized(self, action_result)

    backends.list_of_moto_modules = lambda: modules  # type: ignore[assignment]
    responses.BaseResponse.serialized = serialized  # type: ignore[method-assign]

    def undo() -> None:
        backends.list_of_moto_modules = original_list  # type: ignore[assignment]
        responses.BaseResponse.serialized = original_serialized  # type: ignore[method-assign]

    return undo


class Moto:
    def __init__(self, port: int, region: str) -> None:
        from moto.server import ThreadedMotoServer

        for name in ("werkzeug", "moto"):
            logging.getLogger(name).setLevel(logging.ERROR)
        self.region = region
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._sent_at: dict[str, str] = {}
        self._now: Callable[[], datetime] | None = None
        self.endpoint = ""
        self._undo_speedups: Callable[[], None] | None = None

    def start(self) -> None:
        self._undo_speedups = speed_up_moto()
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"
        # moto's state is process-wide: a runtime started after another in the same process starts clean.
        urllib.request.urlopen(urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST"), timeout=10)

    def stop(self) -> None:
        self._server.stop()
        if self._undo_speedups is not None:
            self._undo_speedups()

    def client(self, service: str) -> Any:
        with self._lock:
            if service not in self._clients:
                self._clients[service] = boto3.session.Session().client(
                    service,
                    endpoint_url=self.endpoint,
                    region_name=self.region,
                    aws_access_key_id=DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"],
                    aws_secret_access_key=DUMMY_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
                    config=Config(max_pool_connections=64, retries={"max_attempts": 2, "mode": "standard"}),
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

    def outbox(self) -> list[dict[str, Any]]:
        emails = []
        for message in list(self._ses_backend().sent_messages):
            emails.append(self._describe(message))
        return emails

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
