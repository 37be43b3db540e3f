"""The OpenAPI document as the contract: every status a route can answer, with the real error body.

Powertools documents the success response from each route's return type and a generic 422. What the
API really answers besides follows from how a route is declared, so it is derived here from the same
declarations the gate enforces:

- every route: ``400`` (malformed JSON, a body where none is taken) and ``422`` (validation);
- a route with roles (``x-roles``): the bearer security scheme, ``401`` and ``403``;
- a route with a request body: ``413`` and ``415``; a route with an id in its path, or one that looks
  something up: ``404``; every write: ``409`` (quotas, state conflicts, an idempotent request in flight);
- a creating ``POST`` (201 or 202): the ``Idempotency-Key`` header.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler.api_gateway import Route

from audiens.api.gate import route_roles, takes_body

ERROR_SCHEMA = "ErrorBody"
SECURITY_SCHEME = "bearerAuth"
WRITES = {"POST", "PUT", "PATCH", "DELETE"}

_DESCRIPTIONS = {
    303: "See other",
    400: "Malformed request: invalid JSON, nested too deep, or a body on a route that takes none",
    401: "Missing, unknown or revoked API key",
    403: "The API key's account lacks the role this route needs",
    404: "Not found (another account's resources are not found either)",
    406: "The route answers a PDF: send Accept: application/pdf",
    409: "Conflict with the current state (already exists, quota exceeded, window closed, request in progress)",
    413: "Request body, a string or an array too large",
    415: "The request body is not JSON (application/json or a +json type)",
    422: "Validation error",
}

# Routes whose lookups can miss without an id in the path (a body or query names the thing).
_LOOKUPS_WITHOUT_PATH_ID = {
    ("POST", "/v1/accounts/activate"),
    ("POST", "/v1/traits"),
    ("POST", "/v1/segments"),
    ("POST", "/v1/segments/estimate"),
    ("POST", "/v1/subscriptions"),
    ("POST", "/v1/destinations"),
    ("GET", "/v1/data-points"),
    ("GET", "/v1/me"),
}
# Public routes that still check a credential of their own.
_OWN_CREDENTIAL = {("POST", "/v1/ingest/{source_id}/events")}
# Routes that answer no error of their own: a browser pixel always gets its GIF (only an id that cannot be a
# path segment finds no route).
_NEVER_FAILS = {("GET", "/v1/pixel/{source_id}")}
_MEDIA_TYPES = {("GET", "/v1/pixel/{source_id}"): "image/gif"}
# Reads that can meet a state conflict: an issued invoice whose PDF is still being generated.
_READ_CONFLICTS = {("GET", "/v1/invoices/{invoice_id}"), ("GET", "/v1/invoices/{invoice_id}.pdf")}

IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "Retrying with the same key and body returns the first response; the same key with another "
    "body answers 422 idempotency_key_reused. Scoped to the caller and path, kept 24 hours.",
    "schema": {"type": "string", "minLength": 1, "maxLength": 255},
}

ERROR_BODY = {
    "type": "object",
    "title": ERROR_SCHEMA,
    "description": "Every error of the API (API.md): a stable snake_case code, a sentence, and details.",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "details"],
            "properties": {
                "code": {"type": "string", "pattern": "^[a-z][a-z0-9_]*$"},
                "message": {"type": "string", "minLength": 1},
                "details": {"type": "array", "items": {"type": "object"}},
            },
        }
    },
}


def statuses(route: Route) -> set[int]:
    """The error statuses a route can answer, from its declaration."""
    key = (route.method, route.openapi_path)
    if key in _NEVER_FAILS:
        return {404}
    codes = {400, 422}
    if route_roles(route) is not None or key in _OWN_CREDENTIAL:
        codes |= {401}
    if route_roles(route) is not None:
        codes |= {403}
    if takes_body(route):
        codes |= {413, 415}
    if "{" in route.openapi_path or key in _LOOKUPS_WITHOUT_PATH_ID:
        codes.add(404)
    if route.method in WRITES or key in _READ_CONFLICTS:
        codes.add(409)
    if route.openapi_path.endswith(".pdf"):
        codes.add(406)  # a binary answer needs Accept: application/pdf (API Gateway's binary media types)
    return codes


def creates(route: Route) -> bool:
    return route.method == "POST" and route.status_code in (201, 202)


def apply(document: dict[str, Any], routes: list[Route]) -> dict[str, Any]:
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    schemas.pop("ResponseValidationError", None)  # Powertools' own; unused, and its items point at the one above
    schemas[ERROR_SCHEMA] = ERROR_BODY
    components["securitySchemes"] = {
        SECURITY_SCHEME: {
            "type": "http",
            "scheme": "bearer",
            "description": "An API key: Authorization: Bearer <api_key> (the scheme's case does not matter).",
        }
    }
    error_ref = {"$ref": f"#/components/schemas/{ERROR_SCHEMA}"}
    for route in routes:
        if not route.include_in_schema:
            continue
        operation = document["paths"][route.openapi_path][route.method.lower()]
        responses = operation.setdefault("responses", {})
        for code in [c for c in responses if int(c) >= 400]:
            del responses[code]
        if route.status_code == 204:
            responses.pop("200", None)
            responses["204"] = {"description": "Done; no content"}
        media_type = _MEDIA_TYPES.get((route.method, route.openapi_path))
        if media_type:
            success = responses.setdefault(str(route.status_code), {"description": "Successful Response"})
            success["content"] = {media_type: {"schema": {"type": "string", "format": "binary"}}}
        for code in sorted(statuses(route)):
            responses[str(code)] = {
                "description": _DESCRIPTIONS[code],
                "content": {"application/json": {"schema": error_ref}},
            }
        operation["security"] = [{SECURITY_SCHEME: []}] if route_roles(route) is not None else []
        if creates(route):
            parameters = operation.setdefault("parameters", [])
            if not any(p.get("name") == IDEMPOTENCY_KEY["name"] for p in parameters):
                parameters.append(dict(IDEMPOTENCY_KEY))
    return document
