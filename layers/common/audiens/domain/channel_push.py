"""The taxonomy push (DOMAIN.md §5): what is sent to a destination, how it is signed, and where it lands.

The push sends a **taxonomy** ``{segment_id, name, category, action, version, sent_at}``: ``upsert``
when a segment is mapped or renamed, ``remove`` when it is unmapped, deleted or expired. Webhook
bodies are signed ``X-Audiens-Signature: sha256=<hex HMAC-SHA256(secret, raw body)>`` with the send
time in ``X-Audiens-Timestamp`` (the body carries it too, so the signature covers it).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from audiens.domain.channel_config import role_account
from audiens.domain.time import rfc3339

__all__ = [
    "MAX_ERROR_LENGTH",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "S3Target",
    "s3_object_key",
    "s3_target",
    "short_error",
    "sign",
    "taxonomy_body",
]

SIGNATURE_HEADER: Final = "X-Audiens-Signature"
TIMESTAMP_HEADER: Final = "X-Audiens-Timestamp"
EVENT_HEADER: Final = "X-Audiens-Event"
WEBHOOK_TIMEOUT_SECONDS: Final = 5.0
MAX_ERROR_LENGTH: Final = 500


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
        return role_account(self.role_arn)


def s3_target(config: Mapping[str, Any]) -> S3Target:
    return S3Target(str(config["bucket"]), str(config.get("role_arn", "")), str(config.get("external_id", "")))


def s3_object_key(prefix: str, segment_id: str) -> str:
    clean = prefix.strip("/")
    return f"{clean}/{segment_id}.json" if clean else f"{segment_id}.json"


def short_error(text: str) -> str:
    one_line = " ".join(text.split())
    return one_line if len(one_line) <= MAX_ERROR_LENGTH else one_line[: MAX_ERROR_LENGTH - 1] + "…"
