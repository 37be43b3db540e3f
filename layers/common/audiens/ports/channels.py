"""Ports of the channels: destinations and mappings, the push queue and the delivery clients."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Protocol

from audiens.domain.channel_push import S3Target
from audiens.domain.destinations import Destination, SegmentMapping
from audiens.domain.segments import Segment


class ChannelRepository(Protocol):
    def put_destination(self, destination: Destination) -> None: ...

    def get_destination(self, destination_id: str) -> Destination | None: ...

    def get_destinations(self, destination_ids: Iterable[str]) -> dict[str, Destination]: ...

    def list_destinations(self, account_id: str) -> list[Destination]: ...

    def mark_destination_deleted(self, destination_id: str) -> None: ...

    def get_mapping(self, mapping_id: str) -> SegmentMapping | None: ...

    def save_mapping(self, mapping: SegmentMapping, *, expected_version: int | None) -> bool: ...

    def destination_mappings(self, destination_id: str) -> list[SegmentMapping]: ...

    def account_mappings(self, account_id: str) -> list[SegmentMapping]: ...

    def mapping_owners(self) -> list[str]: ...

    def segment_mappings(self, segment_id: str) -> list[SegmentMapping]: ...

    def record_attempt(
        self,
        mapping_id: str,
        version: int,
        *,
        status: str,
        now: datetime,
        error: str | None,
        pushed: bool,
    ) -> bool: ...


class PushQueue(Protocol):
    def enqueue(self, mapping_id: str, version: int) -> None: ...


class DeliveryError(Exception):
    """A push that did not reach the channel (timeout, refused, non-2xx): retried, then dead-lettered."""


class WebhookClient(Protocol):
    def post(self, url: str, body: bytes, headers: dict[str, str], *, timeout: float) -> int: ...


class ObjectExporter(Protocol):
    """Writes to a customer's bucket as the customer's role (``DeliveryError`` when it cannot)."""

    def put(self, target: S3Target, key: str, body: bytes) -> None: ...

    def delete(self, target: S3Target, key: str) -> None: ...

    def verify(self, target: S3Target, key: str) -> None:
        """Prove the role can be assumed with its ExternalId and write to the bucket: put then delete ``key``."""
        ...


class SegmentChannels(Protocol):
    """What the segment use cases tell the channels (``services.channels.ChannelService`` implements it)."""

    def segment_changed(self, segment: Segment, now: datetime) -> int: ...

    def segment_removed(self, segment: Segment, *, reason: str, now: datetime) -> int: ...
