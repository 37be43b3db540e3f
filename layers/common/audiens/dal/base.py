"""PynamoDB plumbing shared by every table.

Models name their table by the template's *logical id* (``Meta.table_name = "AccountsTable"``);
``bind_tables`` swaps in the physical names from Settings at the composition root, so the model ↔
template check can match models to tables without any environment, and nothing connects at import.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from pynamodb.attributes import Attribute
from pynamodb.constants import STRING
from pynamodb.models import Model

from audiens.domain.time import key_timestamp, parse_timestamp


class IsoDateTimeAttribute(Attribute[datetime]):
    """RFC 3339 UTC timestamps stored as fixed-width strings (``domain.time``): sortable, readable, never a float."""

    attr_type = STRING

    def serialize(self, value: Any) -> Any:
        return key_timestamp(value)

    def deserialize(self, value: Any) -> Any:
        return parse_timestamp(value)


def all_models() -> list[type[Model]]:
    """Every PynamoDB model of the application: each ``audiens.dal`` model module (``models.py`` or
    ``*_models.py``, kept free of heavy imports) lists its own in ``MODELS``."""
    import importlib
    import pkgutil

    import audiens.dal as package

    found: list[type[Model]] = []
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
        if not (info.name == "models" or info.name.endswith("_models")):
            continue
        module = importlib.import_module(f"audiens.dal.{info.name}")
        found.extend(m for m in getattr(module, "MODELS", []) if m not in found)
    return found


def bind_tables(physical_names: dict[str, str], region: str, models: Iterable[type[Model]] | None = None) -> None:
    """Point each model at its physical table; models whose logical table is not given are left unbound."""
    for model in models if models is not None else all_models():
        logical = getattr(model.Meta, "logical_table", None) or model.Meta.table_name
        model.Meta.logical_table = logical  # type: ignore[attr-defined]
        if logical in physical_names:
            model.Meta.table_name = physical_names[logical]
            model.Meta.region = region
