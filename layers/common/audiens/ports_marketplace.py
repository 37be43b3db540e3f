"""Transition: these ports moved to ``audiens.ports.marketplace`` and ``audiens.ports.channels``."""

from audiens.ports.channels import (
    ChannelRepository,
    DeliveryError,
    ObjectExporter,
    PushQueue,
    SegmentChannels,
    WebhookClient,
)
from audiens.ports.marketplace import MarketplaceRepository

__all__ = [
    "ChannelRepository",
    "DeliveryError",
    "MarketplaceRepository",
    "ObjectExporter",
    "PushQueue",
    "SegmentChannels",
    "WebhookClient",
]
