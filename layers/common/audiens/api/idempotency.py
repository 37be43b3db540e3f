"""``Idempotency-Key`` for creating POSTs, on Powertools idempotency with DynamoDB persistence.

The key is scoped to the caller and the path, the body is hashed into the record, so a retry with the
same key and body replays the first response and the same key with another body is refused (422).
Failed requests (any raised error) are not recorded: retrying them runs them again.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.utilities.idempotency import (
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyValidationError,
)

from audiens.errors import ConflictError, ValidationError
from audiens.wiring import idempotency_store

MAX_KEY_LENGTH = 255
REPLAYED_HEADER = "Idempotent-Replayed"


def _mark_replayed(response: Any, _: Any) -> Any:
    if isinstance(response, dict):
        response = {**response, "headers": {**response.get("headers", {}), REPLAYED_HEADER: "true"}}
    return response


CONFIG = IdempotencyConfig(
    event_key_jmespath="key",
    payload_validation_jmespath="body",
    raise_on_no_idempotency_key=True,
    expires_after_seconds=24 * 3600,
    response_hook=_mark_replayed,  # type: ignore[arg-type]
)


def _serialize(app: APIGatewayRestResolver, response: Response[Any]) -> dict[str, Any]:
    body = response.body
    if not isinstance(body, str | bytes | type(None)):
        body = app._serializer(body)
    if isinstance(body, bytes):
        body = body.decode()
    return {"status": response.status_code, "headers": dict(response.headers), "body": body or ""}


def idempotency_middleware(app: APIGatewayRestResolver, next_middleware: Callable[..., Any]) -> Any:
    event = app.current_event
    key = event.headers.get("idempotency-key") if event.http_method == "POST" else None
    if not key:
        return next_middleware(app)
    if len(key) > MAX_KEY_LENGTH:
        raise ValidationError(
            f"Idempotency-Key must be at most {MAX_KEY_LENGTH} characters.", code="invalid_idempotency_key"
        )
    authorizer = event.request_context.authorizer.raw_event or {}
    scope = authorizer.get("account_id") or authorizer.get("principalId") or "public"
    body_hash = hashlib.sha256((event.body or "").encode()).hexdigest()

    def run(request: dict[str, Any]) -> dict[str, Any]:
        return _serialize(app, next_middleware(app))

    wrapped = idempotent_function(
        run, data_keyword_argument="request", persistence_store=idempotency_store(), config=CONFIG
    )
    try:
        stored = wrapped(request={"key": f"{scope} {event.path} {key}", "body": body_hash})
    except IdempotencyValidationError:
        raise ValidationError(
            "This Idempotency-Key was already used with a different request body.", code="idempotency_key_reused"
        ) from None
    except IdempotencyAlreadyInProgressError:
        raise ConflictError(
            "A request with this Idempotency-Key is still in progress; retry shortly.", code="request_in_progress"
        ) from None
    headers = stored.get("headers") or {}
    return Response(
        status_code=int(stored["status"]),
        body=json.loads(stored["body"]) if stored["body"] else None,
        headers={k: v for k, v in headers.items()},
        content_type=headers.get("Content-Type", "application/json"),
    )


def register_context(context: Any) -> None:
    CONFIG.register_lambda_context(context)
