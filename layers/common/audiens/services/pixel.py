"""The pixel: browser hits buffered by a queue, then counted in batches through the ingestion path.

A hit (``GET /v1/pixel/<source>``) is checked against its source's token and queued (``PixelHitJob``); the
browser gets its GIF as soon as the message is sent. The queue's consumer (PixelIngestFunction) takes up to
96 hits at a time, groups them by source and arrival minute and ingests each group as one batch:
one merge of the sketches and one counting transaction with a marker per hit, so a redelivered hit is
counted once whichever batch it arrives in. A group that fails is reported back (its messages are
redelivered, then dead-lettered and alarmed); the other groups of the batch are kept.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from audiens.domain import events as rules
from audiens.domain.events import minute_of, pixel_event
from audiens.observability import logger
from audiens.ports.jobs import JobQueue, PixelHitJob
from audiens.services.ingest import IngestService, hash_secret


@dataclass
class PixelReport:
    """What one batch of queued hits did: counted now, counted before, for no live source, failed."""

    counted: int = 0
    duplicates: int = 0
    ignored: int = 0
    failed: list[str] = field(default_factory=list)  # the failed hits' item ids (SQS message ids)


class PixelService:
    def __init__(self, ingest: IngestService, queue: JobQueue | None) -> None:
        self._ingest = ingest
        self._queue = queue

    def hit(self, source_id: str, params: Mapping[str, str], *, request_id: str, now: datetime) -> bool:
        """Queue one hit; False when it is not for a live pixel source (nothing queued). A hit that cannot be
        queued raises: it is never lost silently."""
        if self._ingest.pixel_source(source_id, params.get("t", ""), now) is None:
            return False
        if self._queue is None:
            raise RuntimeError("pixel hits need the pixel queue (PIXEL_QUEUE_URL)")
        kept = {k: v for k, v in params.items() if k != "t"}  # the token is checked; it is not stored
        self._queue.send([PixelHitJob(source_id=source_id, request_id=request_id, received_at=now, params=kept)])
        return True

    def ingest_hits(self, hits: list[tuple[str, PixelHitJob]]) -> PixelReport:
        """Count queued hits (item id, hit): one batch per source and arrival minute (at most
        ``MAX_PARTS_PER_COMMIT`` hits). A group that raises is listed in ``failed``; the others are kept."""
        groups: dict[tuple[str, str], list[tuple[str, PixelHitJob]]] = {}
        for item_id, hit in hits:
            groups.setdefault((hit.source_id, minute_of(hit.received_at)), []).append((item_id, hit))
        report = PixelReport()
        for (source_id, _), group in groups.items():
            for start in range(0, len(group), rules.MAX_PARTS_PER_COMMIT):
                chunk = group[start : start + rules.MAX_PARTS_PER_COMMIT]
                try:
                    self._ingest_group(source_id, chunk, report)
                except Exception:
                    logger.exception("pixel hits not counted", extra={"source_id": source_id, "hits": len(chunk)})
                    report.failed.extend(item_id for item_id, _ in chunk)
        return report

    def _ingest_group(self, source_id: str, chunk: list[tuple[str, PixelHitJob]], report: PixelReport) -> None:
        newest = max(hit.received_at for _, hit in chunk)
        source = self._ingest.source_for_ingest(source_id, newest)
        if source is None or source.type != "pixel":  # checked when queued; a source is never deleted
            logger.warning("pixel hits for no pixel source", extra={"source_id": source_id, "hits": len(chunk)})
            report.ignored += len(chunk)
            return
        unique: dict[str, PixelHitJob] = {}
        for _, hit in chunk:  # the queue may deliver a message twice, even in one batch
            unique.setdefault(hit.request_id, hit)
        deliveries = [
            (hash_secret(f"pixel\n{hit.request_id}"), pixel_event(hit.params), hit.received_at)
            for hit in unique.values()
        ]
        counted = self._ingest.ingest_hits(source, deliveries)
        done = len(counted.parts) if counted is not None else 0
        report.counted += done
        report.duplicates += len(chunk) - done
