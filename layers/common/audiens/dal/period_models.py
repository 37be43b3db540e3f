"""The reporting period's state: the one item usage writes and the monthly close agree on.

pk=PERIOD#<YYYY-MM>, sk=STATE in UsageTable. No item means OPEN. The close moves it OPEN → CLOSING →
CLOSED with conditional updates; every usage write carries a ConditionCheck that the item is absent or
OPEN, in the same transaction, so no usage lands in a period once its close has begun.
"""

from __future__ import annotations

from pynamodb.attributes import UnicodeAttribute
from pynamodb.models import Model

from audiens.dal.base import IsoDateTimeAttribute

OPEN = "OPEN"
CLOSING = "CLOSING"
CLOSED = "CLOSED"


class PeriodStateItem(Model):
    class Meta:
        table_name = "UsageTable"
        region = "us-east-1"

    pk = UnicodeAttribute(hash_key=True)  # PERIOD#<YYYY-MM>
    sk = UnicodeAttribute(range_key=True)  # STATE
    period = UnicodeAttribute()
    state = UnicodeAttribute()
    changed_at = IsoDateTimeAttribute()
    run_id = UnicodeAttribute(null=True)

    @staticmethod
    def key(period: str) -> tuple[str, str]:
        return f"PERIOD#{period}", "STATE"

    @classmethod
    def open_condition(cls):  # type: ignore[no-untyped-def]
        """Condition for a ConditionCheck/conditional write: the period still accepts usage."""
        return cls.pk.does_not_exist() | (cls.state == OPEN)


MODELS: list[type[Model]] = [PeriodStateItem]
