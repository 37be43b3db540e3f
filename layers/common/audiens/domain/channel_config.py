"""A destination's channel config (DOMAIN.md §5): the wizard's step-by-step validation and the S3 export's guards.

The first step with a problem is named in a ``422 invalid_destination_config`` with every problem of
that step in ``details: [{step, field, message}]``. Webhook URLs must not reach the platform's own
network (SSRF); an S3 export must not target the platform's own account or buckets.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

from audiens.errors import ValidationError

if TYPE_CHECKING:
    from audiens.domain.channels import Channel

__all__ = [
    "S3Platform",
    "check_s3_export_target",
    "export_external_id",
    "is_private_address",
    "role_account",
    "validate_config",
]

MIN_SECRET_LENGTH: Final = 16
MAX_SECRET_LENGTH: Final = 256
MAX_URL_LENGTH: Final = 2_048
MAX_PREFIX_LENGTH: Final = 512
MAX_ROLE_ARN_LENGTH: Final = 2_048
EXTERNAL_ID_PREFIX: Final = "audiens:"

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


def role_account(role_arn: str) -> str:
    """The 12-digit account of an IAM role ARN; empty when it is not one."""
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
    if role_account(str(config.get("role_arn", ""))) == platform.account_id:
        raise ValidationError(
            "Step 'access' (Access) is invalid: the role must be in your own AWS account (the bucket owner's), "
            "not in the Audiens platform account.",
            code="invalid_destination_config",
            details=[{"step": "access", "field": "role_arn", "message": "a role of the Audiens platform account"}],
        )
