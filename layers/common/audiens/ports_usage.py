"""Transition: the usage ports moved to ``audiens.ports.usage``."""

from audiens.ports.usage import (
    OPEN,
    AccountDirectory,
    DuplicateContentError,
    ObjectGoneError,
    PeriodClosedError,
    StoredUsage,
    UploadFinish,
    UploadFinishedError,
    UsageCatalog,
    UsageObjects,
    UsageRepository,
)

__all__ = [
    "OPEN",
    "AccountDirectory",
    "DuplicateContentError",
    "ObjectGoneError",
    "PeriodClosedError",
    "StoredUsage",
    "UploadFinish",
    "UploadFinishedError",
    "UsageCatalog",
    "UsageObjects",
    "UsageRepository",
]
