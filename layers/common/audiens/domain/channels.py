"""Channels, destinations and the taxonomy push (DOMAIN.md §5): the catalog and the rules that need no I/O.

A **channel** is an external platform; a **destination** is one account's configured channel. Seamless
channels need nothing (switch on); wizard channels take a ``config`` validated step by step, in the
catalog's order, and the first step with a problem is named in a ``422 invalid_destination_config``
with every problem of that step in ``details: [{step, field, message}]``.

The config is one flat object (``{"url": …, "secret": …}``): field names are unique across a channel's
steps, and the catalog says which step owns which field, so a client can build the wizard from it.

The push itself sends a **taxonomy** ``{segment_id, name, category, action, version, sent_at}``:
``upsert`` when a segment is mapped or renamed, ``remove`` when it is unmapped, deleted or expired.
Webhook bodies are signed ``X-Audiens-Signature: sha256=<hex HMAC-SHA256(secret, raw body)>`` with the
send time in ``X-Audiens-Timestamp`` (the body carries it too, so the signature covers it).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal
from urllib.parse import urlsplit

from audiens.domain.time import optional_rfc3339, rfc3339
from audiens.errors import NotFoundError, ValidationError

__all__ = [
    "CATALOG",
    "MAX_ERROR_LENGTH",
    "PUSH_STATUSES",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "Channel",
    "Destination",
    "S3Platform",
    "S3Target",
    "SegmentMapping",
    "Step",
    "StepField",
    "channel",
    "check_s3_export_target",
    "export_external_id",
    "is_private_address",
    "masked_config",
    "s3_object_key",
    "s3_target",
    "sign",
    "taxonomy_body",
    "validate_config",
]

SIGNATURE_HEADER: Final = "X-Audiens-Signature"
TIMESTAMP_HEADER: Final = "X-Audiens-Timestamp"
EVENT_HEADER: Final = "X-Audiens-Event"
WEBHOOK_TIMEOUT_SECONDS: Final = 5.0
MIN_SECRET_LENGTH: Final = 16
MAX_SECRET_LENGTH: Final = 256
MAX_URL_LENGTH: Final = 2_048
MAX_PREFIX_LENGTH: Final = 512
MAX_ERROR_LENGTH: Final = 500
MAX_DESTINATION_NAME: Final = 200
MAX_ROLE_ARN_LENGTH: Final = 2_048
EXTERNAL_ID_PREFIX: Final = "audiens:"

PushStatus = Literal["queued", "pushed", "failed", "dead_lettered", "removed"]
PUSH_STATUSES: Final = ("queued", "pushed", "failed", "dead_lettered", "removed")
Action = Literal["upsert", "remove"]


@dataclass(frozen=True)
class StepField:
    name: str
    type: str
    description: str
    required: bool = True
    secret: bool = False

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "required": self.required,
            "secret": self.secret,
            "description": self.description,
        }


@dataclass(frozen=True)
class Step:
    step: str
    title: str
    fields: tuple[StepField, ...]

    def as_json(self) -> dict[str, Any]:
        return {"step": self.step, "title": self.title, "fields": [f.as_json() for f in self.fields]}


@dataclass(frozen=True)
class Channel:
    channel_id: str
    name: str
    setup: Literal["seamless", "wizard"]
    delivery: Literal["seamless", "webhook", "s3"]
    description: str
    steps: tuple[Step, ...] = ()

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "channel_id": self.channel_id,
            "name": self.name,
            "setup": self.setup,
            "description": self.description,
        }
        if self.setup == "wizard":
            out["steps"] = [s.as_json() for s in self.steps]
        return out

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(f.name for s in self.steps for f in s.fields)

    @property
    def secret_fields(self) -> frozenset[str]:
        return frozenset(f.name for s in self.steps for f in s.fields if f.secret)


CATALOG: Final[tuple[Channel, ...]] = (
    Channel(
        "audiens_marketplace",
        "Audiens Marketplace",
        "seamless",
        "seamless",
        "The Audiens data marketplace itself: switch it on, segments are listed at once.",
    ),
    Channel(
        "example_dsp",
        "Example DSP",
        "seamless",
        "seamless",
        "A demand-side platform integrated server to server with Audiens: nothing to configure.",
    ),
    Channel(
        "webhook",
        "Webhook",
        "wizard",
        "webhook",
        "Your own HTTPS endpoint receives each taxonomy change as a signed JSON POST "
        f"({SIGNATURE_HEADER}: sha256=<hex HMAC-SHA256(secret, raw body)>).",
        (
            Step(
                "endpoint",
                "Endpoint",
                (StepField("url", "string", "HTTPS URL that accepts POST requests with a JSON body."),),
            ),
            Step(
                "credentials",
                "Credentials",
                (
                    StepField(
                        "secret",
                        "string",
                        f"Shared secret of {MIN_SECRET_LENGTH} to {MAX_SECRET_LENGTH} characters used to sign bodies.",
                        secret=True,
                    ),
                ),
            ),
        ),
    ),
    Channel(
        "s3_export",
        "Amazon S3 export",
        "wizard",
        "s3",
        "Each segment's taxonomy is written as <prefix>/<segment_id>.json in your bucket (deleted on removal), "
        "with the credentials of an IAM role in the bucket's AWS account that you create for Audiens.",
        (
            Step("bucket", "Bucket", (StepField("bucket", "string", "Name of an existing S3 bucket of yours."),)),
            Step(
                "access",
                "Access",
                (
                    StepField(
                        "role_arn",
                        "string",
                        "ARN of an IAM role in the bucket owner's account (arn:aws:iam::<account>:role/<name>) that "
                        "allows s3:PutObject and s3:DeleteObject on the bucket (prefix) and trusts the Audiens "
                        f"platform account with the condition sts:ExternalId = {EXTERNAL_ID_PREFIX}<your account "
                        "id>:<bucket>. Audiens assumes it and writes a probe object before the destination is saved.",
                    ),
                ),
            ),
            Step(
                "location",
                "Location",
                (
                    StepField(
                        "prefix",
                        "string",
                        "Key prefix (folder) for the files, e.g. audiens/taxonomy; empty for the bucket root.",
                        required=False,
                    ),
                ),
            ),
        ),
    ),
)

_BY_ID: Final = {c.channel_id: c for c in CATALOG}


def channel(channel_id: str) -> Channel:
    found = _BY_ID.get(channel_id)
    if found is None:
        raise ValidationError(
            f"Unknown channel {channel_id!r}; GET /v1/channels lists them ({', '.join(_BY_ID)}).",
            code="unknown_channel",
            details=[{"field": "channel_id"}],
        )
    return found


# ------------------------------------------------------------------------------------------------ wizard

_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_ROLE_ARN = re.compile(r"arn:aws(?:-cn|-us-gov)?:iam::(\d{12}):role/(?:[\w+=,.@-]+/)*[\w+=,.@-]{1,64}")
_PREFIX = re.compile(r"[A-Za-z0-9!_.*'()/=-]*")
_LOOPBACK_NAMES: Final = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})


def is_private_address(host: str) -> bool:
    """Loopback, private, link-local (the metadata service), reserved or unspecified: SSRF targets."""
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return bool(
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_reserved
        or address.is_multicast
        or address.is_unspecified
    )


def _is_internal_name(host: str) -> bool:
    name = host.lower().rstrip(".")
    return name in _LOOPBACK_NAMES or name.endswith((".localhost", ".local", ".internal"))


def _check_url(value: Any, *, allow_private: bool) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return "url is required."
    if len(value) > MAX_URL_LENGTH:
        return f"url is at most {MAX_URL_LENGTH} characters."
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        return f"{value!r} is not a valid URL."
    scheme = parts.scheme.lower()
    host = parts.hostname or ""
    if scheme not in ("https", "http") or not host:
        return "url must be an absolute https:// URL, e.g. https://hooks.example.com/audiens."
    if parts.username or parts.password:
        return "url must not carry credentials; put the shared secret in the credentials step."
    if parts.fragment:
        return "url must not have a #fragment."
    if port == 0:
        return "url has an invalid port."
    if allow_private:
        return None
    if scheme != "https":
        return "url must use https:// (plain http is accepted only on the local stage)."
    if is_private_address(host) or _is_internal_name(host):
        return f"url points at a loopback, private or link-local host ({host}); use a public HTTPS endpoint."
    return None


def _check_secret(value: Any) -> str | None:
    if not isinstance(value, str) or not value:
        return "secret is required."
    if not MIN_SECRET_LENGTH <= len(value) <= MAX_SECRET_LENGTH:
        return f"secret must be {MIN_SECRET_LENGTH} to {MAX_SECRET_LENGTH} characters long."
    if not value.isprintable():
        return "secret must be printable characters."
    return None


def _check_bucket(value: Any) -> str | None:
    if not isinstance(value, str) or not value:
        return "bucket is required."
    if (
        not _BUCKET.fullmatch(value)
        or ".." in value
        or ".-" in value
        or "-." in value
        or value.startswith("xn--")
        or value.endswith("-s3alias")
        or is_private_address(value)
    ):
        return (
            f"{value!r} is not a valid S3 bucket name (3-63 lowercase letters, digits, dots and hyphens, "
            "starting and ending with a letter or digit, not an IP address)."
        )
    return None


def _check_role_arn(value: Any) -> str | None:
    if not isinstance(value, str) or not value:
        return "role_arn is required: the IAM role in your account that Audiens assumes to write to the bucket."
    if len(value) > MAX_ROLE_ARN_LENGTH or not _ROLE_ARN.fullmatch(value):
        return f"{value[:100]!r} is not an IAM role ARN (arn:aws:iam::<12-digit account>:role/<name>)."
    return None


def _check_prefix(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        return "prefix must be a string."
    if len(value) > MAX_PREFIX_LENGTH:
        return f"prefix is at most {MAX_PREFIX_LENGTH} characters."
    if not _PREFIX.fullmatch(value) or value.startswith("/") or "//" in value:
        return "prefix may use letters, digits and !_.*'()=-/, must not start with / nor contain //."
    if any(part in (".", "..") for part in value.split("/")):
        return "prefix must not contain . or .. path segments."
    return None


def validate_config(chan: Channel, config: Mapping[str, Any] | None, *, allow_private: bool) -> dict[str, Any]:
    """Check a destination's config step by step; returns the normalized config to store."""
    raw = dict(config or {})
    if chan.setup == "seamless":
        if raw:
            raise ValidationError(
                f"The {chan.name} channel is seamless: it takes no config.",
                code="invalid_destination_config",
                details=[{"step": None, "field": k, "message": "not a field of this channel"} for k in sorted(raw)],
            )
        return {}
    unknown = sorted(set(raw) - set(chan.field_names))
    if unknown:
        raise ValidationError(
            f"Step 'config' is invalid: unknown field(s) {', '.join(unknown)}; the {chan.name} channel takes "
            f"{', '.join(chan.field_names)}.",
            code="invalid_destination_config",
            details=[{"step": "config", "field": k, "message": "unknown field"} for k in unknown],
        )
    checks = {
        "url": lambda v: _check_url(v, allow_private=allow_private),
        "secret": _check_secret,
        "bucket": _check_bucket,
        "role_arn": _check_role_arn,
        "prefix": _check_prefix,
    }
    for step in chan.steps:
        problems = []
        for f in step.fields:
            message = checks[f.name](raw.get(f.name))
            if message is not None:
                problems.append({"step": step.step, "field": f.name, "message": message})
        if problems:
            raise ValidationError(
                f"Step '{step.step}' ({step.title}) is invalid: " + " ".join(p["message"] for p in problems),
                code="invalid_destination_config",
                details=problems,
            )
    out = {name: raw[name] for name in chan.field_names if raw.get(name) is not None}
    if chan.delivery == "s3":
        out["prefix"] = str(raw.get("prefix") or "").strip("/")
    return out


@dataclass(frozen=True)
class S3Platform:
    """What an S3 export must never target: the platform's own AWS account and buckets."""

    account_id: str
    buckets: frozenset[str] = frozenset()


def export_external_id(account_id: str, bucket: str) -> str:
    """The ExternalId Audiens passes when it assumes an export role: fixed by Audiens, never by the caller.

    It names the Audiens account, so another tenant who names the same role gets a different ExternalId
    and the role's trust policy refuses it (the confused-deputy guard AWS documents for third parties).
    """
    return f"{EXTERNAL_ID_PREFIX}{account_id}:{bucket}"


def _role_account(role_arn: str) -> str:
    match = _ROLE_ARN.fullmatch(role_arn)
    return match.group(1) if match else ""


def check_s3_export_target(config: Mapping[str, Any], platform: S3Platform) -> None:
    """Refuse (422, naming the step) a bucket of the platform or a role of the platform's own account."""
    bucket = str(config.get("bucket", ""))
    if bucket in platform.buckets or bucket.endswith(f"-{platform.account_id}"):
        raise ValidationError(
            f"Step 'bucket' (Bucket) is invalid: {bucket!r} belongs to the Audiens platform; export to a bucket "
            "of your own AWS account.",
            code="invalid_destination_config",
            details=[{"step": "bucket", "field": "bucket", "message": "a bucket of the Audiens platform"}],
        )
    if _role_account(str(config.get("role_arn", ""))) == platform.account_id:
        raise ValidationError(
            "Step 'access' (Access) is invalid: the role must be in your own AWS account (the bucket owner's), "
            "not in the Audiens platform account.",
            code="invalid_destination_config",
            details=[{"step": "access", "field": "role_arn", "message": "a role of the Audiens platform account"}],
        )


def masked_config(chan: Channel, config: Mapping[str, Any]) -> dict[str, Any]:
    """The config as the API shows it: secrets never leave, only their last 4 characters."""
    return {k: ("****" + str(v)[-4:] if k in chan.secret_fields else v) for k, v in config.items()}


def check_destination_name(name: str) -> str:
    value = name.strip()
    if not value or len(value) > MAX_DESTINATION_NAME:
        raise ValidationError(
            f"A destination name is 1 to {MAX_DESTINATION_NAME} characters.",
            code="invalid_destination",
            details=[{"field": "name"}],
        )
    return value


# ------------------------------------------------------------------------------------------ destinations


@dataclass(frozen=True)
class Destination:
    destination_id: str
    account_id: str
    channel_id: str
    name: str
    config: dict[str, Any]
    content_optimization: bool
    status: str  # active | deleted
    created_at: datetime

    def as_json(self) -> dict[str, Any]:
        chan = _BY_ID[self.channel_id]
        return {
            "destination_id": self.destination_id,
            "channel_id": self.channel_id,
            "channel_name": chan.name,
            "name": self.name,
            "status": self.status,
            "content_optimization": self.content_optimization,
            "config": masked_config(chan, self.config),
            "created_at": rfc3339(self.created_at),
        }


@dataclass(frozen=True)
class SegmentMapping:
    """One segment mapped to one destination, with the taxonomy of its current version and its push state.

    ``version`` grows with every change to push; a queued message names the version it was sent for,
    so a message older than the mapping's current version is stale and skipped.
    """

    mapping_id: str
    destination_id: str
    account_id: str  # the destination's owner
    segment_id: str
    segment_owner_id: str
    name: str
    category: str
    action: str  # upsert | remove: what the current version asks the channel to do
    version: int
    status: str
    attempts: int
    created_at: datetime
    updated_at: datetime
    last_error: str | None = None
    last_attempt_at: datetime | None = None
    pushed_at: datetime | None = None
    pushed_version: int = 0

    def as_json(self) -> dict[str, Any]:
        return {
            "mapping_id": self.mapping_id,
            "destination_id": self.destination_id,
            "segment_id": self.segment_id,
            "segment_owner_id": self.segment_owner_id,
            "marketplace": self.segment_owner_id != self.account_id,
            "name": self.name,
            "category": self.category,
            "action": self.action,
            "version": self.version,
            "push_status": self.status,
            "attempts": self.attempts,
            "last_error": self.last_error,
            "last_attempt_at": optional_rfc3339(self.last_attempt_at),
            "pushed_at": optional_rfc3339(self.pushed_at),
            "mapped_at": rfc3339(self.created_at),
        }


# -------------------------------------------------------------------------------------------------- push


def taxonomy_body(*, segment_id: str, name: str, category: str, action: str, version: int, sent_at: datetime) -> bytes:
    """The exact bytes sent (and signed): compact, key-sorted JSON, so a receiver can verify it byte for byte."""
    payload = {
        "segment_id": segment_id,
        "name": name,
        "category": category,
        "action": action,
        "version": version,
        "sent_at": rfc3339(sent_at),
    }
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sign(secret: str, body: bytes) -> str:
    """``sha256=<hex HMAC-SHA256(secret, raw body)>``, the value of :data:`SIGNATURE_HEADER`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class S3Target:
    """Where an s3_export destination writes, and the role (with its ExternalId) it writes as."""

    bucket: str
    role_arn: str
    external_id: str

    @property
    def owner_account(self) -> str:
        """The role's account: the bucket must belong to it (sent as ExpectedBucketOwner)."""
        return _role_account(self.role_arn)


def s3_target(config: Mapping[str, Any]) -> S3Target:
    return S3Target(str(config["bucket"]), str(config.get("role_arn", "")), str(config.get("external_id", "")))


def s3_object_key(prefix: str, segment_id: str) -> str:
    clean = prefix.strip("/")
    return f"{clean}/{segment_id}.json" if clean else f"{segment_id}.json"


def short_error(text: str) -> str:
    one_line = " ".join(text.split())
    return one_line if len(one_line) <= MAX_ERROR_LENGTH else one_line[: MAX_ERROR_LENGTH - 1] + "…"


def destination_not_found(destination_id: str) -> NotFoundError:
    return NotFoundError(f"Destination {destination_id} not found.")
