"""Destinations and segment mappings (DOMAIN.md §5): one account's configured channel, and a segment mapped to it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from audiens.domain.channels import Channel, channel
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

    @property
    def channel_name(self) -> str:
        return channel(self.channel_id).name

    @property
    def shown_config(self) -> dict[str, Any]:
        """The config as the API shows it (:func:`masked_config`): the stored one holds the secrets."""
        return masked_config(channel(self.channel_id), self.config)


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

    @property
    def marketplace(self) -> bool:
        """The segment is another account's (a marketplace public segment), not the destination owner's."""
        return self.segment_owner_id != self.account_id


def destination_not_found(destination_id: str) -> NotFoundError:
    return NotFoundError(f"Destination {destination_id} not found.")
