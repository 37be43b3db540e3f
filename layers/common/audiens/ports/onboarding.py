"""Ports of onboarding: sources, data-point sketches, files, traits and segments, and the sources' objects."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import date, datetime
from typing import Any, Protocol

from audiens.domain.events import BatchCommit, MergeStats, Source
from audiens.domain.segments import Segment, Snapshot, TraitDef
from audiens.domain.sketches import Estimate, Sketch
from audiens.domain.source_files import FileRecord


class OnboardingRepository(Protocol):
    """Sources, data-point sketches, activity, files, traits and segments (``dal.onboarding``)."""

    def put_source(self, source: Source) -> None: ...

    def get_source(self, source_id: str) -> Source | None: ...

    def list_sources(self, account_id: str) -> list[Source]: ...

    def merge_sketches(
        self,
        source_id: str,
        deltas: Mapping[str, Sketch],
        *,
        now: datetime,
        labels: Mapping[str, tuple[str, str]] | None = None,
        account_id: str | None = None,
        shard: int = 0,
    ) -> MergeStats: ...

    def load_sketches(self, refs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], Sketch]: ...

    def account_data_points(self, account_id: str, source_id: str | None = None) -> list[tuple[str, str, str, int]]: ...

    def known_values(self, source_id: str, key: str) -> set[str]: ...

    def add_values(self, source_id: str, key: str, values: set[str], cap: int) -> bool: ...

    def commit_batch(self, source_id: str, commit: BatchCommit, shard: int = 0) -> BatchCommit | None: ...

    def apply_batch(
        self,
        source_id: str,
        deltas: Mapping[str, Sketch],
        *,
        labels: Mapping[str, tuple[str, str]],
        commit: BatchCommit,
        now: datetime,
        account_id: str | None = None,
    ) -> tuple[MergeStats, BatchCommit | None]: ...

    def activity(
        self, source_id: str, *, since: datetime, max_events: int
    ) -> tuple[list[dict[str, Any]], dict[str, int]]: ...

    def claim_file(self, record: FileRecord) -> FileRecord: ...

    def finish_file(self, record: FileRecord, *, errors_limit: int) -> None: ...

    def list_files(self, source_id: str) -> list[FileRecord]: ...

    def put_trait(self, trait: TraitDef) -> None: ...

    def get_traits(self, trait_ids: Iterable[str]) -> dict[str, TraitDef]: ...

    def list_traits(self, account_id: str) -> list[TraitDef]: ...

    def put_segment(self, segment: Segment) -> None: ...

    def replace_segment(self, segment: Segment, *, expected: Segment) -> bool: ...

    def get_segment(self, segment_id: str) -> Segment | None: ...

    def list_segments(self, account_id: str) -> list[Segment]: ...

    def delete_segment(self, segment_id: str) -> None: ...

    def all_segment_ids(self) -> Iterator[str]: ...

    def put_snapshot(self, segment_id: str, day: date, estimate: Estimate, now: datetime) -> bool: ...

    def has_snapshot(self, segment_id: str, day: date) -> bool: ...

    def snapshots(self, segment_id: str) -> list[Snapshot]: ...


class SourceObjects(Protocol):
    """The source bucket: files streamed in chunks, upload URLs signed for providers."""

    def iter_chunks(self, bucket: str, key: str, chunk_size: int = ...) -> Iterator[bytes]: ...

    def upload_url(self, bucket: str, key: str, expires_in: int) -> str: ...
