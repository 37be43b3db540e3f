"""Field types of the response models, which render the domain's values as the API writes them.

A response model is the one definition of what a response holds: it is validated from the domain's objects
(``from_attributes``) and dumped as the JSON body. These types keep the wire formats: money and prices as
decimal strings in the document's currency (given as validation context), periods and ratios as their text,
timestamps by the API formatter. Their JSON schema is a plain string, as the OpenAPI document describes it.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ValidationInfo

from audiens.domain.money import format_money, format_price
from audiens.domain.time import rfc3339

__all__ = [
    "Instant",
    "Money",
    "OptionalInstant",
    "OptionalMoney",
    "OptionalPrice",
    "OptionalText",
    "Price",
    "Text",
    "attributes_of",
]


def _currency(info: ValidationInfo) -> str:
    """The document's currency, which the model is validated with (a missing one is a programming error)."""
    if not info.context or "currency" not in info.context:
        raise TypeError("a money field is validated with context={'currency': ...}")
    currency: str = info.context["currency"]
    return currency


def _money(value: object, info: ValidationInfo) -> object:
    return format_money(value, _currency(info)) if isinstance(value, Decimal) else value


def _price(value: object, info: ValidationInfo) -> object:
    return format_price(value, _currency(info)) if isinstance(value, Decimal) else value


def _text(value: object) -> object:
    """A period or a ratio (Decimal) as its text."""
    return value if value is None or isinstance(value, str) else str(value)


def _instant(value: object) -> object:
    return rfc3339(value) if isinstance(value, datetime) else value


Money = Annotated[str, BeforeValidator(_money)]
OptionalMoney = Annotated[str | None, BeforeValidator(_money)]
Price = Annotated[str, BeforeValidator(_price)]
OptionalPrice = Annotated[str | None, BeforeValidator(_price)]
Text = Annotated[str, BeforeValidator(_text)]
OptionalText = Annotated[str | None, BeforeValidator(_text)]
Instant = Annotated[str, BeforeValidator(_instant)]
OptionalInstant = Annotated[str | None, BeforeValidator(_instant)]


def attributes_of(source: object, model: type[BaseModel]) -> dict[str, Any]:
    """The attributes of ``source`` that are fields of ``model`` (a response combining several objects)."""
    return {name: getattr(source, name) for name in model.model_fields if hasattr(source, name)}
