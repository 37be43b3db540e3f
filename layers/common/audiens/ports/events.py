"""What the services receive from the triggers (parsed by ``audiens.triggers``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

__all__ = ["ObjectCreated"]


@dataclass(frozen=True, slots=True)
class ObjectCreated:
    """An S3 "Object Created" event (usage or source bucket), as the trigger adapter parsed it."""

    bucket: str
    key: str
    etag: str
    size: int | None
    time: datetime
    version_id: str | None = None
    sequencer: str | None = None
    requester: str | None = None
