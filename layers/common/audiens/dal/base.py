"""PynamoDB plumbing shared by every table.

Models name their table by the template's *logical id* (``Meta.table_name = "AccountsTable"``);
``bind_tables`` swaps in the physical names from Settings at the composition root, so the model ↔
template check can match models to tables without any environment, and nothing connects at import.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from pynamodb.attributes import UnicodeAttribute
from pynamodb.constants import STRING
from pynamodb.models import Model


class IsoDateTimeAttribute(UnicodeAttribute):
    """RFC 3339 UTC timestamps stored as strings: sortable, readable, and never a float."""

    attr_type = STRING

    def serialize(self, value: Any) -> Any:
        if isinstance(value, datetime):
            return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        return super().serialize(value)

    def deserialize(self, value: Any) -> Any:
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def all_models() -> list[type[Model]]:
    """Every PynamoDB model of the application (used by binding and by the template check)."""
    from audiens.dal import models

    return list(models.MODELS)


def bind_tables(physical_names: dict[str, str], region: str, models: Iterable[type[Model]] | None = None) -> None:
    """Point each model at its physical table; models whose logical table is not given are left unbound."""
    for model in models if models is not None else all_models():
        logical = getattr(model.Meta, "logical_table", None) or model.Meta.table_name
        model.Meta.logical_table = logical  # type: ignore[attr-defined]
        if logical in physical_names:
            model.Meta.table_name = physical_names[logical]
            model.Meta.region = region
