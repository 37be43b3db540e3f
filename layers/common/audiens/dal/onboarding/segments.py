"""The onboarding repository's traits, segments and segment population snapshots (the audience builder)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from datetime import date, datetime
from decimal import Decimal

from audiens.dal.idempotent import save_once, write_marker
from audiens.dal.onboarding.common import (
    OnboardingTables,
    _ts,
)
from audiens.dal.onboarding_models import (
    SegmentItem,
    SnapshotItem,
    TraitItem,
)
from audiens.domain import sketches
from audiens.domain.segments import Condition, Segment, Snapshot, TraitDef


def _to_trait(item: TraitItem) -> TraitDef:
    condition = None
    if item.condition:
        raw = json.loads(item.condition)
        condition = Condition(raw["key"], tuple(raw["values"]), raw["operator"])
    return TraitDef(
        trait_id=item.trait_id,
        account_id=item.account_id,
        name=item.name,
        kind=item.kind,
        created_at=item.created_at,
        source_id=item.source_id,
        condition=condition,
        feed_id=item.feed_id,
        seed_trait_id=item.seed_trait_id,
        modeled_on_feed_ids=tuple(sorted(item.modeled_on_feed_ids or ())),
        modeled_trait_ids=tuple(sorted(item.modeled_trait_ids or ())),
    )


def _to_segment(item: SegmentItem) -> Segment:
    return Segment(
        segment_id=item.segment_id,
        account_id=item.account_id,
        name=item.name,
        category=item.category,
        rule=item.rule,
        expiration_days=int(item.expiration_days),
        visibility=item.visibility,
        cpm=Decimal(item.cpm) if item.cpm is not None else None,
        currency=item.currency,
        status=item.status,
        created_at=item.created_at,
        changed_at=item.changed_at,
        expired_at=item.expired_at,
    )


class SegmentStore(OnboardingTables):
    # ------------------------------------------------------------------------------------------ traits
    def put_trait(self, trait: TraitDef) -> None:
        condition = None
        if trait.condition is not None:
            c = trait.condition
            condition = json.dumps({"key": c.key, "values": list(c.values), "operator": c.operator})
        item = TraitItem(
            f"TRAIT#{trait.trait_id}",
            "META",
            trait_id=trait.trait_id,
            account_id=trait.account_id,
            name=trait.name,
            kind=trait.kind,
            created_at=trait.created_at,
            source_id=trait.source_id,
            condition=condition,
            feed_id=trait.feed_id,
            seed_trait_id=trait.seed_trait_id,
            modeled_on_feed_ids=set(trait.modeled_on_feed_ids) or None,
            modeled_trait_ids=set(trait.modeled_trait_ids) or None,
            gsi1pk=f"ACCT#{trait.account_id}#TRAITS",
            gsi1sk=f"{_ts(trait.created_at)}#{trait.trait_id}",
        )
        if not save_once(item, TraitItem.pk.does_not_exist()):
            raise RuntimeError(f"trait {trait.trait_id} exists already")

    def get_traits(self, trait_ids: Iterable[str]) -> dict[str, TraitDef]:
        keys = [(f"TRAIT#{t}", "META") for t in dict.fromkeys(trait_ids)]
        return {i.trait_id: _to_trait(i) for i in TraitItem.batch_get(keys, consistent_read=True)} if keys else {}

    def list_traits(self, account_id: str) -> list[TraitDef]:
        return [_to_trait(i) for i in TraitItem.by_account.query(f"ACCT#{account_id}#TRAITS")]

    # ---------------------------------------------------------------------------------------- segments
    def _segment_item(self, segment: Segment) -> SegmentItem:
        return SegmentItem(
            f"SEGMENT#{segment.segment_id}",
            "META",
            segment_id=segment.segment_id,
            account_id=segment.account_id,
            name=segment.name,
            category=segment.category,
            rule=segment.rule,
            expiration_days=segment.expiration_days,
            visibility=segment.visibility,
            cpm=str(segment.cpm) if segment.cpm is not None else None,
            currency=segment.currency,
            status=segment.status,
            created_at=segment.created_at,
            changed_at=segment.changed_at,
            expired_at=segment.expired_at,
            gsi1pk=f"ACCT#{segment.account_id}#SEGMENTS",
            gsi1sk=f"{_ts(segment.created_at)}#{segment.segment_id}",
            gsi2pk="SEGMENTS",
            gsi2sk=segment.segment_id,
        )

    def put_segment(self, segment: Segment) -> None:
        if not save_once(self._segment_item(segment), SegmentItem.pk.does_not_exist()):
            raise RuntimeError(f"segment {segment.segment_id} exists already")

    def replace_segment(self, segment: Segment, *, expected: Segment) -> bool:
        """Write ``segment`` if the stored one is still ``expected`` (False if it changed meanwhile)."""
        condition = (SegmentItem.changed_at == expected.changed_at) & (SegmentItem.status == expected.status)
        return save_once(self._segment_item(segment), condition & SegmentItem.pk.exists())

    def get_segment(self, segment_id: str) -> Segment | None:
        try:
            return _to_segment(SegmentItem.get(f"SEGMENT#{segment_id}", "META", consistent_read=True))
        except SegmentItem.DoesNotExist:
            return None

    def list_segments(self, account_id: str) -> list[Segment]:
        return [_to_segment(i) for i in SegmentItem.by_account.query(f"ACCT#{account_id}#SEGMENTS")]

    def delete_segment(self, segment_id: str) -> None:
        """Soft delete: the segment leaves every listing and the daily job, but its rule stays readable,
        because usage already reported on it must still be attributed and invoiced at the close."""
        item = SegmentItem.get(f"SEGMENT#{segment_id}", "META", consistent_read=True)
        item.update(
            actions=[
                SegmentItem.status.set("deleted"),
                SegmentItem.gsi1pk.set(f"{item.gsi1pk}#DELETED"),
                SegmentItem.gsi2pk.set("DELETED_SEGMENTS"),
            ]
        )

    def all_segment_ids(self) -> Iterator[str]:
        for item in SegmentItem.all_segments.query("SEGMENTS"):
            yield str(item.gsi2sk)

    def put_snapshot(self, segment_id: str, day: date, estimate: sketches.Estimate, now: datetime) -> bool:
        item = SnapshotItem(
            f"SEGMENT#{segment_id}",
            f"DAY#{day.isoformat()}",
            population=estimate.population,
            lower_bound=estimate.lower_bound,
            upper_bound=estimate.upper_bound,
            recorded_at=now,
            write_id=write_marker(),
        )
        return save_once(item, SnapshotItem.pk.does_not_exist())

    def has_snapshot(self, segment_id: str, day: date) -> bool:
        """Whether the day's snapshot exists (the daily job skips the segment's population then)."""
        try:
            SnapshotItem.get(f"SEGMENT#{segment_id}", f"DAY#{day.isoformat()}", attributes_to_get=["pk"])
        except SnapshotItem.DoesNotExist:
            return False
        return True

    def snapshots(self, segment_id: str) -> list[Snapshot]:
        items = SnapshotItem.query(f"SEGMENT#{segment_id}", SnapshotItem.sk.startswith("DAY#"))
        return [
            Snapshot(
                date.fromisoformat(i.sk.removeprefix("DAY#")),
                int(i.population),
                int(i.lower_bound),
                int(i.upper_bound),
            )
            for i in items
        ]
