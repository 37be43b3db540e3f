"""Destinations and segment mappings (DOMAIN.md §5): one account's configured channel, and a segment mapped to it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from audiens.domain.channels import Channel, channel
from audiens.domain.time import optional_rfc3339, rfc3339
from audiens.errors import NotFoundError, ValidationError

__all__ = [
    "Destination",
    "SegmentMapping",
    "check_destination_name",
    "destination_not_found",
    "masked_config",
]

MAX_DESTINATION_NAME: Final = 200


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
        chan = channel(self.channel_id)
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


def destination_not_found(destination_id: str) -> NotFoundError:
    return NotFoundError(f"Destination {destination_id} not found.")
