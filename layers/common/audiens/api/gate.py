"""The request gate: what every request must pass before routing, validation and any service runs.

The resolver validates bodies against the route's model, but only after it trusts the bytes: a body in a
media type it cannot read, JSON nested beyond Python's recursion limit or a string that is not Unicode
would each end as a 500. The gate refuses them first, in this order, so the answer does not depend on
which route the request aims at:

1. the path: control characters never name a resource (404);
2. the caller: the route's roles (``x-roles`` in the OpenAPI document) are checked here, before the body
   is looked at, so a caller without the role learns nothing about the body's shape (401, 403);
3. the body: none on routes that take none (400); JSON only, ``application/json`` or a ``+json`` type
   (415); at most 6 MB (413); well-formed (400), at most ``MAX_DEPTH`` levels deep (400), strings of at
   most ``MAX_STRING_CHARS`` characters and arrays and objects of at most ``MAX_ITEMS`` members (413);
   every string valid Unicode, so no lone surrogate ever reaches a write (422);
4. query parameters: valid Unicode (422).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

from aws_lambda_powertools.event_handler.api_gateway import Route

from audiens.api.http import MAX_BODY_BYTES, app, principal_of
from audiens.domain.events import is_text
from audiens.errors import (
    AppError,
    ForbiddenError,
    MalformedRequestError,
    NotFoundError,
    PayloadTooLargeError,
    UnsupportedMediaTypeError,
    ValidationError,
)

MAX_DEPTH = 32
MAX_STRING_CHARS = 65_536
MAX_ITEMS = 10_000
ROLES_EXTENSION = "x-roles"

_JSON_MEDIA_TYPE = re.compile(r"^application/(?:[a-z0-9!#$&^_.-]+\+)?json$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def route_for(method: str, path: str) -> Route | None:
    """The route the resolver will call: the same order (static first), the whole path matched."""
    for route in app._static_routes + app._dynamic_routes:
        if route.method == method and route.rule.fullmatch(path):
            return route
    return None


def route_roles(route: Route) -> tuple[str, ...] | None:
    """The roles a route admits, or None for a public route."""
    roles = (route.openapi_extensions or {}).get(ROLES_EXTENSION)
    return tuple(roles) if roles is not None else None


def takes_body(route: Route) -> bool:
    return bool(route.dependant.body_params)


def admit(event: dict[str, Any]) -> tuple[dict[str, Any], AppError | None]:
    """The event to resolve (a ``+json`` type rewritten to ``application/json``), or the error to answer."""
    path = str(event.get("path") or "")
    method = str(event.get("httpMethod") or "").upper()
    if _CONTROL.search(path) or not is_text(path):
        return event, NotFoundError(f"No route {method} {path!r}.")
    route = route_for(method, path)
    if route is None:
        return event, None  # the resolver answers 404 or 405 with the allowed methods
    roles = route_roles(route)
    if roles is not None:
        try:
            caller = principal_of(event)
        except AppError as unauthorized:
            return event, unauthorized
        if not caller.has_role(*roles):
            return event, ForbiddenError(f"This route needs an API key of a {' or '.join(roles)} account.")
    problem = _query_problem(event)
    if problem is not None:
        return event, problem
    body, problem = _body_text(event)
    if problem is not None:
        return event, problem
    if not takes_body(route):
        if body.strip():
            return event, MalformedRequestError(
                f"{method} {route.openapi_path} takes no request body; send none.", code="unexpected_body"
            )
        return event, None
    if not body:
        return event, None  # the resolver reports the missing body as a validation error
    event, problem = _json_media_type(event)
    if problem is not None:
        return event, problem
    problem = check_json(body)
    if problem is not None:
        return event, problem
    if event.get("isBase64Encoded"):
        event = {**event, "body": body, "isBase64Encoded": False}
    return event, None


def _header(event: dict[str, Any], name: str) -> str:
    headers = event.get("headers") or {}
    return next((str(v) for k, v in headers.items() if k.lower() == name), "")


def _body_text(event: dict[str, Any]) -> tuple[str, AppError | None]:
    raw = event.get("body") or ""
    if len(raw) > MAX_BODY_BYTES * (4 / 3 if event.get("isBase64Encoded") else 1):
        return "", PayloadTooLargeError("The request body is larger than the 6 MB limit.")
    if not event.get("isBase64Encoded"):
        return str(raw), None
    try:
        return base64.b64decode(raw, validate=True).decode("utf-8"), None
    except (binascii.Error, UnicodeDecodeError):
        return "", MalformedRequestError("The request body is not UTF-8 text.", code="malformed_json")


def _json_media_type(event: dict[str, Any]) -> tuple[dict[str, Any], AppError | None]:
    content_type = _header(event, "content-type")
    media_type = content_type.split(";", 1)[0].strip().lower()
    if not _JSON_MEDIA_TYPE.match(media_type):
        return event, UnsupportedMediaTypeError(
            f"The request body must be JSON, sent as Content-Type: application/json (or a +json type); "
            f"got {content_type[:100]!r}.",
            details=[{"field": "Content-Type", "accepted": "application/json"}],
        )
    if media_type == "application/json":
        return event, None
    # The resolver reads JSON bodies only under application/json: a +json type is the same JSON.
    headers = {k: v for k, v in (event.get("headers") or {}).items() if k.lower() != "content-type"}
    headers["Content-Type"] = "application/json"
    rewritten = {**event, "headers": headers}
    if event.get("multiValueHeaders"):
        multi = {k: v for k, v in event["multiValueHeaders"].items() if k.lower() != "content-type"}
        multi["Content-Type"] = ["application/json"]
        rewritten["multiValueHeaders"] = multi
    return rewritten, None


def _not_a_number(constant: str) -> Any:
    raise ValueError(f"{constant} is not a JSON number")


def check_json(body: str) -> AppError | None:
    """Parse once, bounded: malformed, too deep, too large or not Unicode answers before any route runs."""
    try:
        document = json.loads(body, parse_constant=_not_a_number)
    except RecursionError:
        return _too_deep()
    except ValueError as error:
        return MalformedRequestError(
            f"The request body is not valid JSON ({error}).", code="malformed_json", details=[{"field": "body"}]
        )
    stack: list[tuple[Any, str, int]] = [(document, "body", 1)]
    while stack:
        value, where, depth = stack.pop()
        if isinstance(value, str):
            problem = _string_problem(value, where)
            if problem is not None:
                return problem
            continue
        if not isinstance(value, dict | list):
            continue
        if depth > MAX_DEPTH:
            return _too_deep()
        if len(value) > MAX_ITEMS:
            return PayloadTooLargeError(
                f"{where} has {len(value):,} members; at most {MAX_ITEMS:,} are accepted.",
                code="value_too_large",
                details=[{"field": where, "limit": MAX_ITEMS}],
            )
        if isinstance(value, dict):
            for key, member in value.items():
                problem = _string_problem(key, f"{where} key")
                if problem is not None:
                    return problem
                stack.append((member, f"{where}.{key}" if len(where) < 200 else where, depth + 1))
        else:
            stack.extend((member, f"{where}[{i}]", depth + 1) for i, member in enumerate(value))
    return None


def _too_deep() -> AppError:
    return MalformedRequestError(
        f"The request body is nested more than {MAX_DEPTH} levels deep.",
        code="too_deeply_nested",
        details=[{"field": "body", "limit": MAX_DEPTH}],
    )


def _string_problem(value: str, where: str) -> AppError | None:
    if len(value) > MAX_STRING_CHARS:
        return PayloadTooLargeError(
            f"A string in {where} has {len(value):,} characters; at most {MAX_STRING_CHARS:,} are accepted.",
            code="value_too_large",
            details=[{"field": where, "limit": MAX_STRING_CHARS}],
        )
    if not is_text(value):
        return ValidationError(
            f"{where} is not valid Unicode text (it holds a lone surrogate).",
            code="invalid_unicode",
            details=[{"field": where, "code": "invalid_unicode", "message": "lone surrogate"}],
        )
    return None


def _query_problem(event: dict[str, Any]) -> AppError | None:
    params = event.get("multiValueQueryStringParameters") or {}
    singles = event.get("queryStringParameters") or {}
    values = [(k, v) for k, vs in params.items() for v in (vs or [])] + list(singles.items())
    for name, value in values:
        if not is_text(str(name)) or not is_text(str(value or "")):
            return ValidationError(
                "A query parameter is not valid Unicode text (it holds a lone surrogate).",
                code="invalid_unicode",
                details=[{"field": "query", "code": "invalid_unicode", "message": "lone surrogate"}],
            )
    return None
