"""Every timestamp field of an API response is written one way (domain.time: ``2026-11-06T00:00:00Z``)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, Final

from audiens.domain.time import API_TIMESTAMP_PATTERN

_FORMAT: Final = re.compile(API_TIMESTAMP_PATTERN)
_TIMESTAMP_NAMES: Final = re.compile(r".+_at|timestamp|price_effective_from")
"""Field names that hold an instant (dates, YYYY-MM-DD, are ``*_date``, ``date`` or ``subscription_*``)."""


def timestamp_fields(body: Any, path: str = "$") -> Iterator[tuple[str, Any]]:
    """(JSON path, value) of every non-null timestamp field, at any depth."""
    if isinstance(body, dict):
        for name, value in body.items():
            where = f"{path}.{name}"
            if isinstance(name, str) and _TIMESTAMP_NAMES.fullmatch(name) and value is not None:
                yield where, value
            else:
                yield from timestamp_fields(value, where)
    elif isinstance(body, list):
        for index, item in enumerate(body):
            yield from timestamp_fields(item, f"{path}[{index}]")


def misformatted_timestamps(body: Any) -> list[str]:
    """The timestamp fields that are not RFC 3339 UTC whole seconds, as ``path = value`` lines."""
    return [f"{where} = {value!r}" for where, value in timestamp_fields(body) if not _is_api_timestamp(value)]


def _is_api_timestamp(value: Any) -> bool:
    return isinstance(value, str) and _FORMAT.fullmatch(value) is not None
