"""Data onboarding use cases: sources, event batches (API, pixel, S3 files), activity, data points catalog.

Every delivery path ends in ``ingest_batch`` (pixel hits, buffered by a queue, in ``ingest_hits``): validate
each event, cap the distinct values of a key, merge the batch into the data-point sketches of the shard it
leased (one conditional write per changed sketch), then count the batch exactly once in a single transaction
keyed by the batch's identity (one marker per hit for pixel hits). A repeated delivery finds its sketches
unchanged (union is idempotent, on any shard) and its marker present, so it changes nothing.
"""

from __future__ import annotations

import hashlib
import secrets
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import islice
from typing import Any

from audiens.domain import events as rules
from audiens.domain import sketches
from audiens.domain import source_files as files
from audiens.domain.accounts import Principal
from audiens.domain.events import BatchCommit, CommitPart, Event, MergeStats, Rejection, Source
from audiens.domain.quotas import check_quota
from audiens.domain.source_files import FileRecord
from audiens.domain.time import rfc3339
from audiens.errors import NotFoundError, UnauthorizedError, ValidationError
from audiens.ports.onboarding import OnboardingRepository, SourceObjects

KNOWN_VALUES_CACHE_KEYS = 2_000
UPLOAD_URL_SECONDS = 3600
SOURCE_CACHE_TTL = timedelta(minutes=1)
SOURCE_CACHE_ENTRIES = 1_000


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(10)}"


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass
class BatchResult:
    accepted: int
    rejected: list[Rejection]
    duplicate: bool = False
    stats: MergeStats = field(default_factory=MergeStats)


@dataclass(frozen=True)
class CreatedSource:
    source: Source
    secret: str | None  # the api ingest key or the pixel token, shown once at creation


@dataclass(frozen=True)
class DataPointView:
    key: str
    values: list[tuple[str, int]]


class IngestService:
    def __init__(
        self,
        repo: OnboardingRepository,
        *,
        objects: SourceObjects | None = None,
        source_bucket: str | None = None,
    ) -> None:
        self._repo = repo
        self._objects = objects
        self._source_bucket = source_bucket
        self._known: OrderedDict[tuple[str, str], set[str]] = OrderedDict()
        self._sources: dict[str, tuple[datetime, Source]] = {}

    # ------------------------------------------------------------------------------------------ sources
    def create_source(self, principal: Principal, *, name: str, type: str, now: datetime) -> CreatedSource:
        if type not in rules.SOURCE_TYPES:
            raise ValidationError(f"type must be one of {', '.join(rules.SOURCE_TYPES)}.", code="invalid_source_type")
        check_quota("sources", len(self._repo.list_sources(principal.account_id)))
        secret: str | None = None
        if type == "api":
            secret = "ing_" + secrets.token_urlsafe(32)
        elif type == "pixel":
            secret = secrets.token_urlsafe(16)
        source = Source(
            source_id=new_id("src"),
            account_id=principal.account_id,
            name=name.strip(),
            type=type,
            created_at=now,
            credential_hash=hash_secret(secret) if secret else "",
            credential_prefix=secret[:8] if secret else "",
        )
        self._repo.put_source(source)
        return CreatedSource(source, secret)

    def get_source(self, principal: Principal, source_id: str) -> Source:
        source = self._repo.get_source(source_id)
        if source is None or source.account_id != principal.account_id:
            raise NotFoundError(f"Source {source_id} not found.")
        return source

    def list_sources(self, principal: Principal) -> list[Source]:
        """The integration center: grouped by type (api, s3, pixel), oldest first within a type."""
        order = {kind: i for i, kind in enumerate(rules.SOURCE_TYPES)}
        return sorted(
            self._repo.list_sources(principal.account_id),
            key=lambda s: (order.get(s.type, 9), s.created_at, s.name, s.source_id),
        )

    def source_prefix(self, source: Source) -> str:
        return f"{source.account_id}/{source.source_id}/"

    def ingest_details(self, source: Source) -> dict[str, Any]:
        """What a provider needs to send data to a source (never the secret itself after creation)."""
        if source.type == "api":
            return {
                "events_path": f"/v1/sources/{source.source_id}/events",
                "ingest_path": f"/v1/ingest/{source.source_id}/events",
                "ingest_key_prefix": source.credential_prefix,
                "max_events_per_batch": rules.MAX_EVENTS_PER_BATCH,
                "max_batch_bytes": rules.MAX_BATCH_BYTES,
            }
        if source.type == "s3":
            return {
                "bucket": self._source_bucket,
                "prefix": self.source_prefix(source),
                "formats": ["ndjson", "csv"],
                "csv_header": "user_id,timestamp,<key>,...",
            }
        return {
            "pixel_path": f"/v1/pixel/{source.source_id}",
            "pixel_token_prefix": source.credential_prefix,
            "query": "t=<pixel_token>&uid=<user id>&<key>=<value>...",
        }

    def upload_url(self, principal: Principal, source_id: str, file_name: str) -> tuple[str, str, str]:
        source = self.get_source(principal, source_id)
        if source.type != "s3":
            raise ValidationError("Upload URLs exist only for s3 sources.", code="not_an_s3_source")
        if self._objects is None or not self._source_bucket:
            raise RuntimeError("upload URLs need the source bucket")
        if "/" in file_name or not file_name.strip() or len(file_name) > 200:
            raise ValidationError(
                "file_name must be a plain file name of at most 200 characters.", code="invalid_file_name"
            )
        key = self.source_prefix(source) + file_name
        try:
            files.file_format(file_name)
        except files.FileFormatError as error:
            raise ValidationError(error.message, code=error.code) from None
        return self._source_bucket, key, self._objects.upload_url(self._source_bucket, key, UPLOAD_URL_SECONDS)

    # ------------------------------------------------------------------------------------------- ingest
    def source_for_ingest(self, source_id: str, now: datetime) -> Source | None:
        """Sources never change owner, type or credentials, so a warm worker keeps them a minute."""
        cached = self._sources.get(source_id)
        if cached is not None and timedelta(0) <= now - cached[0] <= SOURCE_CACHE_TTL:
            return cached[1]
        source = self._repo.get_source(source_id)
        if source is not None:
            if len(self._sources) >= SOURCE_CACHE_ENTRIES:
                self._sources.clear()
            self._sources[source_id] = (now, source)
        return source

    def post_events(
        self, principal: Principal, source_id: str, raws: list[Any], *, body_bytes: int, now: datetime
    ) -> BatchResult:
        rules.check_batch_size(len(raws), body_bytes)
        source = self.source_for_ingest(source_id, now)
        if source is None or source.account_id != principal.account_id:
            raise NotFoundError(f"Source {source_id} not found.")
        rules.check_batch_values(raws)
        return self.ingest_batch(source, raws, now=now)

    def post_events_with_key(
        self, source_id: str, ingest_key: str, raws: list[Any], *, body_bytes: int, now: datetime
    ) -> BatchResult:
        """The server-to-server route: the source's own ingest key, no account API key."""
        source = self.source_for_ingest(source_id, now)
        if (
            source is None
            or source.type != "api"
            or not ingest_key
            or not secrets.compare_digest(hash_secret(ingest_key), source.credential_hash)
        ):
            raise UnauthorizedError("A valid ingest key for this source is required in the X-Ingest-Key header.")
        rules.check_batch_size(len(raws), body_bytes)
        rules.check_batch_values(raws)
        return self.ingest_batch(source, raws, now=now)

    def pixel_source(self, source_id: str, token: str, now: datetime) -> Source | None:
        """The live pixel source a hit with this token is for, or ``None`` (the browser still gets its GIF)."""
        source = self.source_for_ingest(source_id, now)
        if (
            source is None
            or source.type != "pixel"
            or not token
            or not secrets.compare_digest(hash_secret(token), source.credential_hash)
        ):
            return None
        return source

    def ingest_batch(
        self,
        source: Source,
        raws: list[Any],
        *,
        now: datetime,
        batch_id: str | None = None,
        indexes: list[int] | None = None,
        extra_rejections: Iterable[Rejection] = (),
    ) -> BatchResult:
        """Validate, cap, merge into the sketches, count once. ``indexes`` renumbers events (file lines)."""
        if not raws and not extra_rejections:
            return BatchResult(0, [])
        batch_id = batch_id or rules.batch_fingerprint(source.source_id, raws)  # before anything is written
        good, bad = rules.validate_events(raws, now)
        if indexes is not None:
            good = [(indexes[i], e) for i, e in good]
            bad = [Rejection(indexes[r.index], r.code, r.message) for r in bad]
        good, capped = self._cap_values(source.source_id, good)
        rejected = sorted([*bad, *capped, *extra_rejections], key=lambda r: r.index)
        events = [e for _, e in good]
        received = rfc3339(now)
        latest = ({**e.as_json(), "received_at": received} for e in reversed(events[-rules.LATEST_EVENTS :]))
        commit = BatchCommit.single(batch_id, len(events), len(rejected), now, latest)
        deltas, labels = self._deltas(events)
        stats, committed = self._repo.apply_batch(
            source.source_id, deltas, labels=labels, commit=commit, now=now, account_id=source.account_id
        )
        return BatchResult(len(events), rejected, duplicate=committed is None, stats=stats)

    def ingest_hits(self, source: Source, hits: list[tuple[str, Any, datetime]]) -> BatchCommit | None:
        """Single-event deliveries of one source (pixel hits: marker id, raw event, request time), each counted
        once by its own marker, in one merge of the sketches and one counting transaction (at most
        ``rules.MAX_PARTS_PER_COMMIT``). Returns what was counted, ``None`` when every hit had been."""
        good: list[tuple[int, Event]] = []
        refused: set[int] = set()
        for index, (_, raw, at) in enumerate(hits):
            checked = rules.validate_event(raw, index, at)
            if isinstance(checked, Event):
                good.append((index, checked))
            else:
                refused.add(index)
        good, capped = self._cap_values(source.source_id, good)
        refused.update(r.index for r in capped)
        kept = dict(good)
        parts = tuple(
            CommitPart(marker, 0, 1)
            if index in refused
            else CommitPart(marker, 1, 0, ({**kept[index].as_json(), "received_at": rfc3339(at)},))
            for index, (marker, _, at) in enumerate(hits)
        )
        received = max(at for *_, at in hits)
        deltas, labels = self._deltas(list(kept.values()))
        _, counted = self._repo.apply_batch(
            source.source_id,
            deltas,
            labels=labels,
            commit=BatchCommit(parts, received),
            now=received,
            account_id=source.account_id,
        )
        return counted

    @staticmethod
    def _deltas(events: list[Event]) -> tuple[dict[str, Any], dict[str, tuple[str, str]]]:
        """The batch as sketches: one per touched data-point value, and the source's all-users one."""
        if not events:
            return {}, {}
        grouped = rules.group_users(events)
        deltas: dict[str, Any] = {"ALL": sketches.from_users(grouped.all_users)}
        labels: dict[str, tuple[str, str]] = {}
        for (key, value), users in grouped.by_value.items():
            sk = f"DP#{key}#{value}"
            deltas[sk] = sketches.from_users(users)
            labels[sk] = (key, value)
        return deltas, labels

    def _known_values(self, source_id: str, key: str) -> set[str]:
        ref = (source_id, key)
        known = self._known.get(ref)
        if known is None:
            known = self._repo.known_values(source_id, key)
            self._known[ref] = known
            while len(self._known) > KNOWN_VALUES_CACHE_KEYS:
                self._known.popitem(last=False)
        else:
            self._known.move_to_end(ref)
        return known

    def _cap_values(
        self, source_id: str, good: list[tuple[int, Event]]
    ) -> tuple[list[tuple[int, Event]], list[Rejection]]:
        """Refuse events that would give a key more than MAX_VALUES_PER_KEY distinct values."""
        pairs: set[tuple[str, str]] = set()
        for _, event in good:
            pairs.update(event.data)
        new_by_key: dict[str, set[str]] = {}
        for key, value in pairs:
            if value not in self._known_values(source_id, key):
                new_by_key.setdefault(key, set()).add(value)
        refused: set[tuple[str, str]] = set()
        for key, new in new_by_key.items():
            known = self._known_values(source_id, key)
            if self._repo.add_values(source_id, key, new, rules.MAX_VALUES_PER_KEY):
                known |= new
                continue
            known |= self._repo.known_values(source_id, key)
            fresh = sorted(new - known)
            room = max(0, rules.MAX_VALUES_PER_KEY - len(known))
            admitted = set(fresh[:room])
            if admitted and self._repo.add_values(source_id, key, admitted, rules.MAX_VALUES_PER_KEY):
                known |= admitted
            refused.update((key, v) for v in fresh if v not in known)
        if not refused:
            return good, []
        kept: list[tuple[int, Event]] = []
        rejections: list[Rejection] = []
        for index, event in good:
            over = next((pair for pair in event.data if pair in refused), None)
            if over is None:
                kept.append((index, event))
            else:
                rejections.append(
                    Rejection(
                        index,
                        "too_many_values",
                        f"data key {over[0]} already has {rules.MAX_VALUES_PER_KEY:,} distinct values; "
                        f"new value {over[1][:60]!r} is refused (use a key per dimension with fewer values).",
                    )
                )
        return kept, rejections

    # -------------------------------------------------------------------------------------------- files
    def ingest_file(self, *, bucket: str, key: str, etag: str, size: int | None, now: datetime) -> FileRecord | None:
        """Process one source file (S3 → EventBridge). ``None`` when the key is not a source's file."""
        parts = key.split("/")
        if len(parts) < 3 or not parts[2]:
            return None
        account_id, source_id = parts[0], parts[1]
        source = self._repo.get_source(source_id)
        if source is None or source.account_id != account_id or source.type != "s3":
            return None
        file_id = hashlib.sha256(f"{bucket}/{key}/{etag}".encode()).hexdigest()[:32]
        record = FileRecord(
            file_id=file_id,
            source_id=source_id,
            bucket=bucket,
            key=key,
            etag=etag,
            size=size,
            status="processing",
            received_at=now,
        )
        claimed = self._repo.claim_file(record)
        if claimed.status in ("processed", "failed"):
            return claimed  # a repeated delivery of a finished file: nothing to do
        record.attempts = claimed.attempts
        try:
            self._process_file(source, record, now)
        except files.FileFormatError as error:
            record.errors = [{"line": 0, "code": error.code, "message": error.message}]
        record.status = "failed" if record.errors or record.rejected else "processed"
        record.finished_at = now
        self._repo.finish_file(record, errors_limit=files.MAX_FILE_ERRORS_LISTED)
        return record

    def _process_file(self, source: Source, record: FileRecord, now: datetime) -> None:
        if self._objects is None:
            raise RuntimeError("file ingestion needs the source bucket")
        kind = files.file_format(record.key)
        lines = files.split_lines(self._objects.iter_chunks(record.bucket, record.key))
        numbered: Iterator[tuple[int, bytes | None]] = enumerate(lines, 1)
        csv_layout: files.CsvLayout | None = None
        if kind == "csv":
            first = next(numbered, None)
            if first is None or first[1] is None:
                raise files.FileFormatError("invalid_header", "the CSV file has no readable header line.")
            csv_layout = files.CsvLayout(first[1])
        chunk_no = 0
        while True:
            chunk = list(islice(numbered, files.FILE_CHUNK_EVENTS))
            if not chunk:
                break
            raws: list[Any] = []
            indexes: list[int] = []
            problems: list[Rejection] = []
            for line_no, line in chunk:
                if line is None:
                    problems.append(
                        Rejection(line_no, "line_too_long", f"the line is longer than {files.MAX_LINE_BYTES:,} bytes.")
                    )
                    continue
                if not line.strip():
                    continue
                parsed = csv_layout.parse(line, line_no) if csv_layout else files.parse_ndjson_line(line, line_no)
                if isinstance(parsed, Rejection):
                    problems.append(parsed)
                else:
                    raws.append(parsed)
                    indexes.append(line_no)
            record.rows += len(raws) + len(problems)
            result = self.ingest_batch(
                source,
                raws,
                now=now,
                batch_id=f"{record.file_id}#{chunk_no}",
                indexes=indexes,
                extra_rejections=problems,
            )
            record.accepted += result.accepted
            record.rejected += len(result.rejected)
            for r in result.rejected:  # keep memory flat: list the first errors, count the others
                if len(record.errors) < files.MAX_FILE_ERRORS_LISTED:
                    record.errors.append({"line": r.index, "code": r.code, "message": r.message})
                else:
                    record.errors_truncated += 1
            chunk_no += 1

    def list_files(self, principal: Principal, source_id: str) -> list[FileRecord]:
        source = self.get_source(principal, source_id)
        return self._repo.list_files(source.source_id)

    # ------------------------------------------------------------------------------ activity, catalog
    def activity(
        self, principal: Principal, source_id: str, *, now: datetime, minutes: int = 60
    ) -> tuple[list[dict[str, Any]], list[tuple[str, int]]]:
        source = self.get_source(principal, source_id)
        since = now - rules.ACTIVITY_TTL
        events, counts = self._repo.activity(source.source_id, since=since, max_events=rules.LATEST_EVENTS)
        start = now.replace(second=0, microsecond=0) - timedelta(minutes=minutes - 1)
        series = [
            (minute, counts.get(minute, 0))
            for minute in (rules.minute_of(start + timedelta(minutes=i)) for i in range(minutes))
        ]
        return events, series

    def data_points(self, principal: Principal, source_id: str | None) -> list[tuple[str, DataPointView]]:
        """Keys, values and distinct users per value of one source, or of all the account's sources (by source
        id): one query of the account's catalog index whatever the number of sources (plus the source's own
        read when one is named, to refuse another account's)."""
        if source_id:
            self.get_source(principal, source_id)
        by_source: dict[str, dict[str, list[tuple[str, int]]]] = {}
        for sid, key, value, users in self._repo.account_data_points(principal.account_id, source_id):
            by_source.setdefault(sid, {}).setdefault(key, []).append((value, users))
        out: list[tuple[str, DataPointView]] = []
        for sid in sorted(by_source):
            by_key = by_source[sid]
            for key in sorted(by_key):
                values = sorted(by_key[key], key=lambda vu: (-vu[1], vu[0]))
                out.append((sid, DataPointView(key, values)))
        return out
