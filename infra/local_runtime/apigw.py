"""API Gateway (REST, v1 Lambda proxy) as the template describes it: routes, authorizers, gateway responses.

Routing is on the resource+method pair, as on AWS: among the resources whose path matches the request
and that have the request's method (or ANY), the most specific wins (literal segment, then ``{param}``,
then ``{proxy+}``, compared segment by segment from the left).
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import json
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

MAX_BODY_BYTES = 6 * 1024 * 1024

# AWS's built-in gateway responses: (status, message) per type; DEFAULT_4XX / DEFAULT_5XX are the fallbacks.
BUILTIN_RESPONSES: dict[str, tuple[int, str | None]] = {
    "ACCESS_DENIED": (403, "User is not authorized to access this resource with an explicit deny"),
    "API_CONFIGURATION_ERROR": (500, "Internal server error"),
    "AUTHORIZER_CONFIGURATION_ERROR": (500, None),
    "AUTHORIZER_FAILURE": (500, None),
    "BAD_REQUEST_BODY": (400, "Invalid request body"),
    "BAD_REQUEST_PARAMETERS": (400, "Invalid request parameters"),
    "EXPIRED_TOKEN": (403, "The security token included in the request is expired"),
    "INTEGRATION_FAILURE": (504, "Internal server error"),
    "INTEGRATION_TIMEOUT": (504, "Endpoint request timed out"),
    "INVALID_API_KEY": (403, "Forbidden"),
    "INVALID_SIGNATURE": (403, "Invalid signature"),
    "MISSING_AUTHENTICATION_TOKEN": (403, "Missing Authentication Token"),
    "QUOTA_EXCEEDED": (429, "Limit Exceeded"),
    "REQUEST_TOO_LARGE": (413, "Request Too Long"),
    "RESOURCE_NOT_FOUND": (404, "Not Found"),
    "THROTTLED": (429, "Too Many Requests"),
    "UNAUTHORIZED": (401, "Unauthorized"),
    "UNSUPPORTED_MEDIA_TYPE": (415, "Unsupported Media Type"),
    "DEFAULT_4XX": (400, None),
    "DEFAULT_5XX": (500, None),
}
ERROR_TYPES = {
    "ACCESS_DENIED": "AccessDeniedException",
    "MISSING_AUTHENTICATION_TOKEN": "MissingAuthenticationTokenException",
    "UNAUTHORIZED": "UnauthorizedException",
    "REQUEST_TOO_LARGE": "RequestTooLongException",
    "AUTHORIZER_FAILURE": "AuthorizerFailureException",
    "AUTHORIZER_CONFIGURATION_ERROR": "AuthorizerConfigurationException",
    "THROTTLED": "TooManyRequestsException",
}
TEXT_TYPES = re.compile(
    r"^(text/.*|application/(json|.*\+json|xml|.*\+xml|javascript|x-www-form-urlencoded|graphql|yaml|x-yaml|csv))$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Route:
    function_id: str
    event_name: str
    path: str  # the resource path, e.g. /v1/sources/{source_id}
    method: str  # GET, POST, ... or ANY
    authorizer: str | None  # name in the Api's Auth.Authorizers, or None
    segments: tuple[str, ...] = ()

    @classmethod
    def create(cls, function_id: str, event_name: str, path: str, method: str, authorizer: str | None) -> Route:
        path = "/" + path.strip("/") if path.strip("/") else "/"
        segments = tuple(s for s in path.split("/") if s)
        return cls(
            function_id, event_name, path, method.upper() if method.lower() != "any" else "ANY", authorizer, segments
        )

    def match(self, parts: list[str]) -> tuple[tuple[int, ...], dict[str, str]] | None:
        """(specificity, path parameters) if the request path matches this resource."""
        params: dict[str, str] = {}
        score: list[int] = []
        for index, segment in enumerate(self.segments):
            if segment.startswith("{") and segment.endswith("+}"):
                rest = parts[index:]
                if not rest:
                    return None
                params[segment[1:-2]] = "/".join(rest)
                score.append(0)
                return tuple(score), params
            if index >= len(parts):
                return None
            if segment.startswith("{") and segment.endswith("}"):
                params[segment[1:-1]] = parts[index]
                score.append(1)
            elif segment == parts[index]:
                score.append(2)
            else:
                return None
        if len(parts) != len(self.segments):
            return None
        return (*tuple(score), 3), params  # an exact-length match beats a greedy one at the same depth


PRUNE_AT = 1024  # cached authorizer results kept before the expired ones are dropped


@dataclass
class Authorizer:
    name: str
    function_id: str
    header: str
    validation: re.Pattern[str] | None
    ttl_s: int
    cache: dict[str, tuple[float, dict[str, Any]]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def cached(self, token: str) -> dict[str, Any] | None:
        if self.ttl_s <= 0:
            return None
        with self.lock:
            entry = self.cache.get(token)
            if entry and entry[0] > time.monotonic():
                return entry[1]
            self.cache.pop(token, None)
        return None

    def remember(self, token: str, response: dict[str, Any]) -> None:
        if self.ttl_s > 0:
            with self.lock:
                now = time.monotonic()
                if len(self.cache) >= PRUNE_AT:  # tokens never seen again would otherwise stay all day
                    for stale in [k for k, (expires, _) in self.cache.items() if expires <= now]:
                        del self.cache[stale]
                self.cache[token] = (now + self.ttl_s, response)

    def flush(self) -> None:
        with self.lock:
            self.cache.clear()


@dataclass
class RestApi:
    logical_id: str
    api_id: str
    stage: str
    default_authorizer: str | None
    authorizers: dict[str, Authorizer]
    gateway_responses: dict[str, dict[str, Any]]
    binary_media_types: list[str]
    routes: list[Route] = field(default_factory=list)

    def find(self, method: str, path: str) -> tuple[tuple[Any, ...], Route, dict[str, str]] | None:
        """(sort key, route, path parameters) of the best route for the request, or None."""
        parts = [p for p in path.split("/") if p]
        best: tuple[tuple[Any, ...], Route, dict[str, str]] | None = None
        for route in self.routes:
            if route.method not in (method, "ANY"):
                continue
            matched = route.match(parts)
            if matched is None:
                continue
            key = (matched[0], 1 if route.method == method else 0)
            if best is None or key > best[0]:
                best = (key, route, matched[1])
        return best

    def accepts_binary(self, accept: str) -> bool:
        """AWS decodes a base64 proxy answer only for a client whose *first* Accept type is a binary media type."""
        first = accept.split(",", 1)[0].split(";", 1)[0].strip().lower()
        return bool(first) and any(
            fnmatch.fnmatch(first, pattern.replace("~1", "/").lower()) for pattern in self.binary_media_types
        )

    def is_binary(self, content_type: str, body: bytes) -> bool:
        media_type = content_type.split(";", 1)[0].strip().lower()
        if self.binary_media_types:
            return any(
                fnmatch.fnmatch(media_type, pattern.replace("~1", "/").lower()) for pattern in self.binary_media_types
            )
        if not body:
            return False
        if media_type and TEXT_TYPES.match(media_type):
            return False
        if media_type:
            return True
        try:
            body.decode("utf-8")
        except UnicodeDecodeError:
            return True
        return False

    def gateway_response(
        self, response_type: str, *, request_id: str, message: str | None = None, status: int | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        """Status, headers and body of a gateway response, the template's first, then AWS's defaults."""
        family = "DEFAULT_4XX" if BUILTIN_RESPONSES.get(response_type, (500,))[0] < 500 else "DEFAULT_5XX"
        configured = self.gateway_responses.get(response_type) or {}
        fallback = self.gateway_responses.get(family) or {}
        builtin_status, builtin_message = BUILTIN_RESPONSES.get(response_type, BUILTIN_RESPONSES[family])
        code = int(configured.get("StatusCode") or status or fallback.get("StatusCode") or builtin_status)
        text = message if message is not None else builtin_message
        template = (configured.get("ResponseTemplates") or fallback.get("ResponseTemplates") or {}).get(
            "application/json"
        )
        if template is None:
            body = (
                json.dumps({"message": text}) if text is not None else json.dumps({"message": "Internal server error"})
            )
        else:
            body = (
                template.replace("$context.error.messageString", json.dumps(text))
                .replace("$context.error.message", text or "")
                .replace("$context.error.responseType", response_type)
                .replace("$context.requestId", request_id)
            )
        headers = {"Content-Type": "application/json", "x-amzn-RequestId": request_id}
        if response_type in ERROR_TYPES:
            headers["x-amzn-ErrorType"] = ERROR_TYPES[response_type]
        for source in (fallback, configured):
            for name, value in (source.get("ResponseParameters") or {}).get("Headers", {}).items():
                headers[name] = str(value).strip("'")
        return code, headers, body.encode()


# --------------------------------------------------------------------------------------- authorizer
class AuthorizerConfigurationError(Exception):
    pass


def _matches(pattern: str, value: str) -> bool:
    return fnmatch.fnmatchcase(value, pattern)


def evaluate_policy(response: dict[str, Any], method_arn: str) -> bool:
    """Whether an authorizer's IAM policy allows ``execute-api:Invoke`` on the method ARN (explicit Deny wins)."""
    if not isinstance(response, dict) or "principalId" not in response:
        raise AuthorizerConfigurationError("authorizer response has no principalId")
    document = response.get("policyDocument")
    if not isinstance(document, dict) or not isinstance(document.get("Statement"), list | dict):
        raise AuthorizerConfigurationError("authorizer response has no policyDocument.Statement")
    statements = document["Statement"] if isinstance(document["Statement"], list) else [document["Statement"]]
    allowed = False
    for statement in statements:
        actions = statement.get("Action", [])
        actions = [actions] if isinstance(actions, str) else actions
        if not any(_matches(str(a), "execute-api:Invoke") for a in actions):
            continue
        resources = statement.get("Resource", [])
        resources = [resources] if isinstance(resources, str) else resources
        if not any(_matches(str(r), method_arn) for r in resources):
            continue
        effect = str(statement.get("Effect", "")).capitalize()
        if effect == "Deny":
            return False
        if effect == "Allow":
            allowed = True
    return allowed


def authorizer_context(response: dict[str, Any]) -> dict[str, Any]:
    """``requestContext.authorizer`` for the proxy event: the context with its values stringified, as AWS does.

    Only strings, numbers, booleans (and null) are allowed; an object or array is a configuration error (500).
    """
    context = response.get("context") or {}
    if not isinstance(context, dict):
        raise AuthorizerConfigurationError("authorizer context is not an object")
    result: dict[str, Any] = {}
    for key, value in context.items():
        if isinstance(value, dict | list):
            raise AuthorizerConfigurationError(f"authorizer context value {key!r} is not a string, number or boolean")
        result[key] = value if value is None or isinstance(value, str) else json.dumps(value)
    result["principalId"] = response["principalId"]
    result["integrationLatency"] = 0
    return result


# ---------------------------------------------------------------------------------------- the event
def request_time(epoch_ms: int) -> str:
    return datetime.fromtimestamp(epoch_ms / 1000, UTC).strftime("%d/%b/%Y:%H:%M:%S +0000")


def build_proxy_event(
    *,
    api: RestApi,
    route: Route,
    method: str,
    path: str,
    path_params: dict[str, str],
    headers: list[tuple[str, str]],
    query: list[tuple[str, str]],
    body: bytes,
    source_ip: str,
    request_id: str,
    epoch_ms: int,
    host: str,
    authorizer: dict[str, Any] | None,
) -> dict[str, Any]:
    single_headers: dict[str, str] = {}
    multi_headers: dict[str, list[str]] = {}
    for name, value in headers:
        single_headers[name] = value
        multi_headers.setdefault(name, []).append(value)
    single_query: dict[str, str] = {}
    multi_query: dict[str, list[str]] = {}
    for name, value in query:
        single_query[name] = value
        multi_query.setdefault(name, []).append(value)
    content_type = next((v for k, v in headers if k.lower() == "content-type"), "")
    is_binary = api.is_binary(content_type, body)
    if not body:
        body_value = None
    elif is_binary:
        body_value = base64.b64encode(body).decode()
    else:
        body_value = body.decode("utf-8", errors="replace")
    user_agent = next((v for k, v in headers if k.lower() == "user-agent"), None)
    request_context: dict[str, Any] = {
        "resourceId": api_id_fragment(route.path),
        "resourcePath": route.path,
        "httpMethod": method,
        "extendedRequestId": request_id.replace("-", "")[:16] + "=",
        "requestTime": request_time(epoch_ms),
        "path": f"/{api.stage}{path}",
        "accountId": "123456789012",
        "protocol": "HTTP/1.1",
        "stage": api.stage,
        "domainPrefix": api.api_id,
        "requestTimeEpoch": epoch_ms,
        "requestId": request_id,
        "identity": {
            "cognitoIdentityPoolId": None,
            "accountId": None,
            "cognitoIdentityId": None,
            "caller": None,
            "sourceIp": source_ip,
            "principalOrgId": None,
            "accessKey": None,
            "cognitoAuthenticationType": None,
            "cognitoAuthenticationProvider": None,
            "userArn": None,
            "userAgent": user_agent,
            "user": None,
        },
        "domainName": host,
        "deploymentId": api_id_fragment(api.api_id + api.stage),
        "apiId": api.api_id,
    }
    if authorizer is not None:
        request_context["authorizer"] = authorizer
    return {
        "resource": route.path,
        "path": path,
        "httpMethod": method,
        "headers": single_headers or None,
        "multiValueHeaders": multi_headers or None,
        "queryStringParameters": single_query or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": path_params or None,
        "stageVariables": None,
        "requestContext": request_context,
        "body": body_value,
        "isBase64Encoded": bool(body_value) and is_binary,
    }


def api_id_fragment(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()[:6]


class MalformedResponseError(Exception):
    pass


def map_proxy_result(result: Any, *, decode_binary: bool = True) -> tuple[int, list[tuple[str, str]], bytes]:
    """A Lambda proxy result → status, headers, body (AWS answers 502 to anything malformed).

    ``decode_binary`` is whether the request's first Accept type is one of the API's binary media types: when
    it is not, AWS hands a base64-encoded body over as the base64 text itself, and so does this.
    """
    if not isinstance(result, dict):
        raise MalformedResponseError("the function did not return an object")
    if "statusCode" not in result:
        raise MalformedResponseError("the proxy result has no statusCode")
    try:
        status = int(result["statusCode"])
    except (TypeError, ValueError):
        raise MalformedResponseError("statusCode is not an integer") from None
    headers: list[tuple[str, str]] = []
    seen: set[str] = set()
    for name, values in (result.get("multiValueHeaders") or {}).items():
        for value in values if isinstance(values, list) else [values]:
            headers.append((str(name), str(value)))
        seen.add(str(name).lower())
    for name, value in (result.get("headers") or {}).items():
        if str(name).lower() not in seen:
            headers.append((str(name), str(value)))
    body = result.get("body")
    if body is None:
        data = b""
    elif result.get("isBase64Encoded"):
        try:
            data = base64.b64decode(body, validate=True)
        except (ValueError, TypeError):
            raise MalformedResponseError("isBase64Encoded body is not base64") from None
        if not decode_binary:
            data = str(body).encode()
    elif isinstance(body, str):
        data = body.encode("utf-8")
    else:
        raise MalformedResponseError("body is not a string")
    if not any(name.lower() == "content-type" for name, _ in headers):
        headers.append(("Content-Type", "application/json"))
    return status, headers, data
