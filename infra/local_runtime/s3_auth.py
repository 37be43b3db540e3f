"""Presigned S3 requests checked as S3 checks them (moto checks no signature at all).

* SigV4 query authentication (``X-Amz-Algorithm=AWS4-HMAC-SHA256``): the access key must be one the runtime
  issued, ``X-Amz-Expires`` at most a week, the request not expired and not dated in the future, and the
  signature must match the one computed from the request as received: method, path (bucket and key),
  every query parameter, the signed headers. A URL re-aimed at another key, bucket or method, or with a
  longer expiry, fails with ``SignatureDoesNotMatch``.
* SigV2 (``AWSAccessKeyId``/``Signature`` in the query, or an ``Authorization: AWS ...`` header) is refused:
  S3 refuses it on every bucket created since June 2020.

Requests signed in their ``Authorization`` header with SigV4 (what boto3 sends) and unsigned requests go
through unchecked, as before. Expiry is judged on the real clock, the one the signer (botocore, in a
function or a script) stamps into ``X-Amz-Date``, not on the runtime's settable business clock.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import Message
from typing import Any
from urllib.parse import parse_qsl, quote, unquote
from xml.sax.saxutils import escape

ALGORITHM = "AWS4-HMAC-SHA256"
MAX_EXPIRES_S = 7 * 24 * 3600
CLOCK_SKEW = timedelta(minutes=15)
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
SIGV2_REFUSED = "The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256."


@dataclass(frozen=True)
class Refusal:
    status: int
    code: str
    message: str
    extra: tuple[tuple[str, str], ...] = ()

    def xml(self) -> bytes:
        fields = [("Code", self.code), ("Message", self.message), *self.extra, ("RequestId", uuid.uuid4().hex[:16])]
        inner = "".join(f"<{name}>{escape(value)}</{name}>" for name, value in fields)
        return f'<?xml version="1.0" encoding="UTF-8"?>\n<Error>{inner}</Error>'.encode()


def _uri_encode(text: str, safe: str = "-_.~") -> str:
    return quote(text, safe=safe)


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    key = _hmac(("AWS4" + secret).encode(), date)
    for part in (region, service, "aws4_request"):
        key = _hmac(key, part)
    return key


def _header_values(headers: Message | Any, name: str) -> list[str] | None:
    """Every value of a header, by case-insensitive name (an http.server message or a plain mapping)."""
    if hasattr(headers, "get_all"):
        values = headers.get_all(name)
    else:
        values = [v for k, v in headers.items() if str(k).lower() == name] or None
    return [str(v) for v in values] if values is not None else None


def canonical_request(
    method: str, raw_path: str, query: list[tuple[str, str]], headers: Any, signed_headers: list[str]
) -> str | None:
    """The SigV4 canonical request of a presigned S3 request, or None when a signed header is missing."""
    path = _uri_encode(unquote(raw_path or "/"), safe="/-_.~")  # S3: the path is not normalized, only encoded
    pairs = sorted((_uri_encode(k), _uri_encode(v)) for k, v in query if k != "X-Amz-Signature")
    lines = []
    for name in signed_headers:
        values = _header_values(headers, name)
        if values is None:
            return None
        lines.append(f"{name}:{','.join(' '.join(v.split()) for v in values)}")
    payload = (_header_values(headers, "x-amz-content-sha256") or [UNSIGNED_PAYLOAD])[0]
    if "x-amz-content-sha256" not in signed_headers:
        payload = UNSIGNED_PAYLOAD
    return "\n".join(
        [
            method.upper(),
            path,
            "&".join(f"{k}={v}" for k, v in pairs),
            "\n".join(lines) + "\n",
            ";".join(signed_headers),
            payload,
        ]
    )


def check(
    method: str, target: str, headers: Any, credentials: dict[str, str], now: datetime | None = None
) -> Refusal | None:
    """None if S3 would accept the request's authentication (or it has none to check); else the refusal."""
    raw_path, _, raw_query = target.partition("?")
    query = parse_qsl(raw_query, keep_blank_values=True)
    params = dict(query)
    authorization = str(headers.get("Authorization") or "")
    if ("AWSAccessKeyId" in params and "Signature" in params) or authorization.startswith("AWS "):
        return Refusal(403, "AccessDenied", SIGV2_REFUSED)
    if not any(name in params for name in ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature")):
        return None
    return _check_sigv4(method, raw_path, query, params, headers, credentials, now or datetime.now(UTC))


def _query_error(message: str) -> Refusal:
    return Refusal(400, "AuthorizationQueryParametersError", message)


def _check_sigv4(
    method: str,
    raw_path: str,
    query: list[tuple[str, str]],
    params: dict[str, str],
    headers: Any,
    credentials: dict[str, str],
    now: datetime,
) -> Refusal | None:
    if params.get("X-Amz-Algorithm") != ALGORITHM:
        return _query_error(f"X-Amz-Algorithm only supports {ALGORITHM}")
    required = ("X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires", "X-Amz-SignedHeaders", "X-Amz-Signature")
    missing = [name for name in required if not params.get(name)]
    if missing:
        return _query_error(
            "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, "
            f"X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters (missing {missing})."
        )
    scope = params["X-Amz-Credential"].split("/")
    if len(scope) == 5 and scope[3] != "s3":
        return None  # another service's presigned request: not S3's to judge
    if len(scope) != 5 or scope[4] != "aws4_request":
        return _query_error(f"Error parsing the X-Amz-Credential parameter: {params['X-Amz-Credential']!r}")
    access_key, date, region, service, _ = scope
    secret = credentials.get(access_key)
    if secret is None:
        return Refusal(
            403,
            "InvalidAccessKeyId",
            "The AWS Access Key Id you provided does not exist in our records.",
            (("AWSAccessKeyId", access_key),),
        )
    try:
        signed_at = datetime.strptime(params["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        expires = int(params["X-Amz-Expires"])
    except ValueError:
        return _query_error("X-Amz-Date must be in the ISO8601 Long Format and X-Amz-Expires an integer")
    if not 0 < expires <= MAX_EXPIRES_S:
        return _query_error(f"X-Amz-Expires must be less than a week (in seconds) that is {MAX_EXPIRES_S}")
    if date != params["X-Amz-Date"][:8]:
        return _query_error("The date in X-Amz-Credential does not match X-Amz-Date")
    server_time = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    if now > signed_at + timedelta(seconds=expires):
        return Refusal(
            403,
            "AccessDenied",
            "Request has expired",
            (
                ("X-Amz-Expires", str(expires)),
                ("Expires", (signed_at + timedelta(seconds=expires)).strftime("%Y-%m-%dT%H:%M:%SZ")),
                ("ServerTime", server_time),
            ),
        )
    if signed_at > now + CLOCK_SKEW:
        return Refusal(403, "AccessDenied", "Request is not valid yet", (("ServerTime", server_time),))
    signed_headers = params["X-Amz-SignedHeaders"].lower().split(";")
    canonical = canonical_request(method, raw_path, query, headers, signed_headers)
    string_to_sign = "\n".join(
        [ALGORITHM, params["X-Amz-Date"], "/".join(scope[1:]), hashlib.sha256((canonical or "").encode()).hexdigest()]
    )
    expected = hmac.new(signing_key(secret, date, region, service), string_to_sign.encode(), hashlib.sha256)
    if canonical is None or not hmac.compare_digest(expected.hexdigest(), params["X-Amz-Signature"]):
        return Refusal(
            403,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided. "
            "Check your key and signing method.",
            (
                ("AWSAccessKeyId", access_key),
                ("StringToSign", string_to_sign),
                ("SignatureProvided", params["X-Amz-Signature"]),
                ("CanonicalRequest", canonical or ""),
            ),
        )
    return None
