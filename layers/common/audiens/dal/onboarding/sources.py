"""The onboarding repository's sources and their files."""

from __future__ import annotations

import json
import zlib
from typing import Any

from pynamodb.exceptions import PutError

from audiens.dal.idempotent import save_once
from audiens.dal.onboarding.common import (
    OnboardingTables,
    _conditional_failed,
    _shard_pk,
    _source_of,
    _source_pk,
    _ts,
)
from audiens.dal.onboarding_models import (
    FileItem,
    SourceItem,
)
from audiens.domain.events import Source
from audiens.domain.source_files import FileRecord
from audiens.domain.time import parse_timestamp
from audiens.errors import ConflictError


def _to_source(item: SourceItem, totals: dict[str, tuple[int, int, str]] | None = None) -> Source:
    """The source of its META item, plus what its other shards counted (``_shard_totals``)."""
    accepted, rejected, last = (totals or {}).get(item.source_id, (0, 0, ""))
    last_event = max(item.last_event_at or "", last)
    return Source(
        source_id=item.source_id,
        account_id=item.account_id,
        name=item.name,
        type=item.type,
        created_at=item.created_at,
        credential_hash=item.credential_hash or "",
        credential_prefix=item.credential_prefix or "",
        events_accepted=int(item.events_accepted or 0) + accepted,
        events_rejected=int(item.events_rejected or 0) + rejected,
        last_event_at=parse_timestamp(last_event) if last_event else None,
    )


def _to_file(item: FileItem, source_id: str) -> FileRecord:
    return FileRecord(
        file_id=item.file_id,
        source_id=source_id,
        bucket=item.bucket,
        key=item.object_key,
        etag=item.etag,
        size=int(item.size) if item.size is not None else None,
        status=item.status,
        received_at=item.received_at,
        finished_at=item.finished_at,
        rows=int(item.rows or 0),
        accepted=int(item.accepted or 0),
        rejected=int(item.rejected or 0),
        errors=_errors_of(item),
        errors_truncated=int(item.errors_truncated or 0),
        attempts=int(item.attempts or 1),
    )


class SourceStore(OnboardingTables):
    # ------------------------------------------------------------------------------------------ sources
    def put_source(self, source: Source) -> None:
        """A new source; a retry after a lost answer finds it as written (its id is new: anything else there
        is not this call's)."""
        item = SourceItem(
            _source_pk(source.source_id),
            "META",
            source_id=source.source_id,
            account_id=source.account_id,
            name=source.name,
            type=source.type,
            created_at=source.created_at,
            credential_hash=source.credential_hash or None,
            credential_prefix=source.credential_prefix or None,
            events_accepted=0,
            events_rejected=0,
            gsi1pk=f"ACCT#{source.account_id}#SOURCES",
            gsi1sk=f"{_ts(source.created_at)}#{source.source_id}",
        )
        if not save_once(item, SourceItem.pk.does_not_exist()):
            raise ConflictError(f"A source with id {source.source_id} already exists.")

    def get_source(self, source_id: str) -> Source | None:
        try:
            item = SourceItem.get(_source_pk(source_id), "META")
        except SourceItem.DoesNotExist:
            return None
        return _to_source(item, self._shard_totals([source_id]))

    def list_sources(self, account_id: str) -> list[Source]:
        items = list(SourceItem.by_account.query(f"ACCT#{account_id}#SOURCES"))
        totals = self._shard_totals([i.source_id for i in items])
        return [_to_source(i, totals) for i in items]

    def _shard_totals(self, source_ids: list[str]) -> dict[str, tuple[int, int, str]]:
        """(accepted, rejected, last event) counted on shards 1.. of the sources that have used more than one
        (their ``SHARDS`` items, then their shards' ``TOTALS``: nothing more for a source never written
        concurrently)."""
        widths = self._widths(source_ids) if source_ids else {}
        keys = [
            {"pk": {"S": _shard_pk(source_id, shard)}, "sk": {"S": "TOTALS"}}
            for source_id, width in widths.items()
            for shard in range(1, width)
        ]
        totals: dict[str, tuple[int, int, str]] = {}
        table = SourceItem.Meta.table_name
        for start in range(0, len(keys), 100):
            request: dict[str, Any] = {table: {"Keys": keys[start : start + 100], "ConsistentRead": True}}
            while request:
                answer = self._connection.client.batch_get_item(RequestItems=request)
                for found in answer.get("Responses", {}).get(table, []):
                    source_id = _source_of(found["pk"]["S"])
                    accepted, rejected, last = totals.get(source_id, (0, 0, ""))
                    totals[source_id] = (
                        accepted + int(found.get("events_accepted", {}).get("N", 0)),
                        rejected + int(found.get("events_rejected", {}).get("N", 0)),
                        max(last, found.get("last_event_at", {}).get("S", "")),
                    )
                request = answer.get("UnprocessedKeys") or {}
        return totals

    # ------------------------------------------------------------------------------------------- files
    def claim_file(self, record: FileRecord) -> FileRecord:
        """Register a file delivery; an existing record is returned as it is (the caller decides)."""
        item = FileItem(
            _source_pk(record.source_id),
            f"FILE#{record.file_id}",
            file_id=record.file_id,
            bucket=record.bucket,
            object_key=record.key,
            etag=record.etag,
            size=record.size,
            status="processing",
            received_at=record.received_at,
            attempts=1,
        )
        try:
            item.save(condition=FileItem.pk.does_not_exist())
            return record
        except PutError as error:
            if not _conditional_failed(error):
                raise
        existing = FileItem.get(_source_pk(record.source_id), f"FILE#{record.file_id}", consistent_read=True)
        if existing.status == "processing":
            existing.update(actions=[FileItem.attempts.add(1)])
        return _to_file(existing, record.source_id)

    def finish_file(self, record: FileRecord, *, errors_limit: int) -> None:
        """The file's outcome; its listed errors compressed and cut to ``FILE_ERRORS_BYTES``, the rest
        counted in ``errors_truncated``, so the record stays far below DynamoDB's 400 KB item limit."""
        errors, packed = _packed_errors(record.errors[:errors_limit])
        FileItem(_source_pk(record.source_id), f"FILE#{record.file_id}").update(
            actions=[
                FileItem.status.set(record.status),
                FileItem.finished_at.set(record.finished_at or record.received_at),
                FileItem.rows.set(record.rows),
                FileItem.accepted.set(record.accepted),
                FileItem.rejected.set(record.rejected),
                FileItem.errors.remove(),
                FileItem.errors_z.set(packed),
                FileItem.errors_truncated.set(record.errors_truncated + max(0, len(record.errors) - len(errors))),
            ]
        )

    def list_files(self, source_id: str) -> list[FileRecord]:
        items = FileItem.query(_source_pk(source_id), FileItem.sk.startswith("FILE#"))
        return sorted((_to_file(i, source_id) for i in items), key=lambda f: (f.received_at, f.file_id), reverse=True)


FILE_ERRORS_BYTES = 256 * 1024
"""What a file record's compressed error list may take (DynamoDB's item limit is 400 KB)."""


def _packed_errors(errors: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], bytes]:
    """The errors that fit ``FILE_ERRORS_BYTES`` compressed (the first ones, halving until they fit)."""
    kept = errors
    while True:
        packed = zlib.compress(json.dumps(kept, separators=(",", ":")).encode(), 6)
        if len(packed) <= FILE_ERRORS_BYTES or not kept:
            return kept, packed
        kept = kept[: len(kept) // 2]


def _errors_of(item: FileItem) -> list[dict[str, Any]]:
    if item.errors_z:
        return list(json.loads(zlib.decompress(item.errors_z)))
    return list(json.loads(item.errors)) if item.errors else []
