"""The HTTP adapter shared by every route module: the resolver, the caller, the request time, errors.

Domain and service errors are ``AppError``s; this is the one place that turns any exception into the
error body of API.md, so no route formats an error itself and no bad input becomes a 500.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError as RouteNotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError, ResponseValidationError
from aws_lambda_powertools.event_handler.openapi.params import Query
from pydantic import BaseModel

from audiens.domain.accounts import Principal
from audiens.errors import (
    AppError,
    ForbiddenError,
    MethodNotAllowedError,
    NotFoundError,
    UnauthorizedError,
    ValidationError,
)
from audiens.observability import logger

MAX_BODY_BYTES = 6 * 1024 * 1024
PAGE_MAX = 1000

# Listing parameters (API.md: ``?cursor=…&limit=…``, ``next_cursor`` in the reply). The default page holds
# a whole listing at the account quotas, so clients that never page keep seeing everything.
Limit = Annotated[int, Query(ge=1, le=PAGE_MAX, description="Items per page (1 to 1,000; 1,000 by default)")]
Cursor = Annotated[str | None, Query(max_length=200, description="The next_cursor of the previous page")]

# A response that does not match its model is our fault: a 500 (logged), never the client's 422.
app = APIGatewayRestResolver(enable_validation=True, response_validation_error_http_code=500)


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response[Any]:
    """A JSON response; a response model is dumped as its JSON body."""
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=body.model_dump(mode="json") if isinstance(body, BaseModel) else body,
        headers=headers,
    )


def error_response(error: AppError) -> Response[Any]:
    headers = {"Allow": error.details[0]["allow"]} if isinstance(error, MethodNotAllowedError) else None
    return json_response(error.status, error.to_body(), headers)


def paginate[T](
    items: Sequence[T], id_of: Callable[[T], str], limit: int, cursor: str | None
) -> tuple[list[T], str | None]:
    """One page of a listing in its stable order; the opaque cursor names the last item of the previous page."""
    start = 0
    if cursor:
        try:
            last: str | None = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        except (binascii.Error, ValueError):
            last = None
        ids = [id_of(item) for item in items]
        if last is None or last not in ids:
            raise ValidationError(
                "The cursor is not valid for this listing (or the item it points at is gone); start again without it.",
                code="invalid_cursor",
                details=[{"field": "cursor"}],
            )
        start = ids.index(last) + 1
    page = list(items[start : start + limit])
    more = start + limit < len(items)
    return page, base64.urlsafe_b64encode(id_of(page[-1]).encode()).decode().rstrip("=") if more and page else None


def request_time() -> datetime:
    """The business time of this request: API Gateway's stamp, never the function's clock."""
    epoch_ms = app.current_event.request_context.request_time_epoch
    return datetime.fromtimestamp(int(epoch_ms) / 1000, tz=UTC)


def roles(*names: str) -> dict[str, Any]:
    """A route's roles, declared on its decorator: the gate checks them before the body is validated, and the
    OpenAPI document shows them (``x-roles``) with the 401 and 403 they imply."""
    return {"x-roles": list(names)}


def principal() -> Principal:
    return principal_of(app.current_event.raw_event)


def principal_of(event: dict[str, Any]) -> Principal:
    context = (event.get("requestContext") or {}).get("authorizer") or {}
    account_id = context.get("account_id") or context.get("principalId")
    if not account_id:
        raise UnauthorizedError("A valid API key is required: send the header Authorization: Bearer <api_key>.")
    roles = tuple(r for r in str(context.get("roles", "")).split(",") if r)
    return Principal(account_id=str(account_id), roles=roles, key_id=str(context.get("key_id", "")))


def require_role(*roles: str) -> Principal:
    caller = principal()
    if not caller.has_role(*roles):
        wanted = " or ".join(roles)
        raise ForbiddenError(f"This route needs an API key of a {wanted} account.")
    return caller


def api_stage() -> tuple[str, str]:
    ctx = app.current_event.request_context
    return ctx.api_id or "", ctx.stage or ""


@app.exception_handler(AppError)
def _app_error(error: AppError) -> Response[Any]:
    return error_response(error)


@app.exception_handler(RequestValidationError)
def _validation_error(error: RequestValidationError) -> Response[Any]:
    problems = error.errors()
    if any(p.get("type") == "json_invalid" for p in problems):
        ctx = next((p.get("ctx") or {} for p in problems if p.get("type") == "json_invalid"), {})
        return error_response(
            AppError(
                f"The request body is not valid JSON ({ctx.get('error', 'decode error')}).",
                code="malformed_json",
                details=[{"field": "body"}],
            )
        )
    details = []
    for problem in problems:
        loc = [str(part) for part in problem.get("loc", ()) if part not in ("body",)] or ["body"]
        details.append(
            {"field": ".".join(loc), "code": problem.get("type", "invalid"), "message": problem.get("msg", "")}
        )
    summary = "; ".join(f"{d['field']}: {d['message']}" for d in details[:5])
    return json_response(
        422, {"error": {"code": "validation_error", "message": f"Invalid request: {summary}.", "details": details}}
    )


@app.exception_handler(RouteNotFoundError)
def _not_found(_: Exception) -> Response[Any]:
    path = app.current_event.path
    allowed = sorted({r.method for r in app._static_routes + app._dynamic_routes if r.rule.match(path)})
    if allowed:
        method = app.current_event.http_method
        return error_response(
            MethodNotAllowedError(
                f"{method} is not allowed on {path}; allowed: {', '.join(allowed)}.",
                details=[{"allow": ", ".join(allowed)}],
            )
        )
    return error_response(NotFoundError(f"No route {app.current_event.http_method} {path}."))


@app.exception_handler(ResponseValidationError)
def _invalid_response(error: ResponseValidationError) -> Response[Any]:
    # Where and why only: the body itself may hold a secret shown once (a new API key, an ingest key).
    problems = [{"loc": p.get("loc"), "type": p.get("type"), "msg": p.get("msg")} for p in error.errors()]
    logger.error("a response does not match its model", extra={"problems": problems})
    return _internal_error()


@app.exception_handler(Exception)
def _unexpected(error: Exception) -> Response[Any]:
    logger.exception("unhandled error")
    return _internal_error()


def _internal_error() -> Response[Any]:
    return json_response(
        500,
        {
            "error": {
                "code": "internal_error",
                "message": "Something went wrong on our side; it has been logged.",
                "details": [],
            }
        },
    )


def normalize_event(event: dict[str, Any]) -> dict[str, Any]:
    """Bodies are JSON whatever the client claims (curl -d sends form encoding), except true uploads."""
    headers = event.get("headers") or {}
    content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
    if event.get("body") and (not content_type or content_type.startswith("application/x-www-form-urlencoded")):
        headers = {k: v for k, v in headers.items() if k.lower() != "content-type"}
        headers["Content-Type"] = "application/json"
        event = {**event, "headers": headers}
        if event.get("multiValueHeaders"):
            mv = {k: v for k, v in event["multiValueHeaders"].items() if k.lower() != "content-type"}
            mv["Content-Type"] = ["application/json"]
            event["multiValueHeaders"] = mv
    return event
