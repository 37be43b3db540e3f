"""The runtime's state kept across restarts: a snapshot of what the template's resources hold.

moto keeps everything in memory, so without this every account, key and file was gone after a restart of
``make up``. The snapshot is logical, taken and put back through the AWS APIs, by logical id, so it does
not depend on moto's internals and survives a change of moto version or of the template:

* DynamoDB: every item of every table of the template (a table no longer in the template is skipped);
* S3: every object (latest version) of every bucket of the template, with its content type and metadata;
* SQS: the messages waiting in the template's queues (dead-letter queues included), re-sent on restore;
* the outbox of sent emails, and the local clock's offset from real time (time passes while stopped).

It is written at stop (Ctrl-C, SIGTERM) and every ``interval`` seconds while running, into a temporary
folder renamed over the previous snapshot, so a crash leaves the last complete one. Restoring happens
after the stack exists and before any event source starts: putting the objects back fires no S3 event,
nothing is processed twice. Schedule occurrences missed while the runtime was stopped do not fire.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import shutil
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .runtime import LocalRuntime

log = logging.getLogger("local_runtime")

FORMAT = 2
SNAPSHOT = "snapshot"
MANIFEST = "state.json"


def _encode(value: Any) -> Any:
    """DynamoDB items as boto3 returns them, JSON-safe (binary values base64 under a marker key)."""
    if isinstance(value, bytes | bytearray):
        return {"$b64": base64.b64encode(bytes(value)).decode()}
    if isinstance(value, dict):
        return {k: _encode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_encode(v) for v in value]
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"$b64"}:
            return base64.b64decode(value["$b64"])
        return {k: _decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


class StateError(RuntimeError):
    """The kept state cannot be restored."""


@dataclass
class Restored:
    items: int = 0
    objects: int = 0
    messages: int = 0
    emails: int = 0

    def __str__(self) -> str:
        return f"{self.items} items, {self.objects} objects, {self.messages} queued messages, {self.emails} emails"


class StateStore:
    """Saves and restores one runtime's state in ``folder`` (created on first save)."""

    def __init__(self, runtime: LocalRuntime, folder: str | os.PathLike[str], interval: float = 60.0) -> None:
        self.runtime = runtime
        self.folder = Path(folder).resolve()
        self.interval = interval
        self.restored: Restored | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def snapshot(self) -> Path:
        return self.folder / SNAPSHOT

    def exists(self) -> bool:
        return (self.snapshot / MANIFEST).is_file()

    # --------------------------------------------------------------------------------------- restore
    def saved_clock_offset(self) -> float | None:
        """Seconds the local clock was ahead of real time when the snapshot was taken (None: no snapshot)."""
        if not self.exists():
            return None
        try:
            return float(json.loads((self.snapshot / MANIFEST).read_text()).get("clock_offset_s", 0.0))
        except (ValueError, AttributeError):
            return None  # restore() says what is wrong with it

    def restore(self) -> Restored:
        """Put the snapshot back (nothing if there is none); StateError if it cannot be read or applied."""
        if not self.exists():
            self.restored = Restored()
            return self.restored
        try:
            return self._restore(json.loads((self.snapshot / MANIFEST).read_text()))
        except StateError:
            raise
        except Exception as error:
            raise StateError(
                f"the state in {self.folder} cannot be restored ({error}); `make reset` clears it"
            ) from error

    def _restore(self, manifest: dict[str, Any]) -> Restored:
        restored = Restored()
        if manifest.get("format") != FORMAT:
            raise StateError(
                f"the state in {self.folder} has format {manifest.get('format')!r}, this runtime reads {FORMAT}; "
                "`make reset` clears it"
            )
        resources = self.runtime.template.resources
        for logical_id, saved in manifest.get("tables", {}).items():
            if logical_id not in resources or logical_id not in self.runtime.catalog.physical:
                log.warning(
                    "state: table %s is no longer in the template; its %d items are dropped", logical_id, saved["items"]
                )
                continue
            restored.items += self._put_items(self.runtime.resource(logical_id), self.snapshot / saved["file"])
        for logical_id, objects in manifest.get("buckets", {}).items():
            if logical_id not in resources or logical_id not in self.runtime.catalog.physical:
                log.warning("state: bucket %s is no longer in the template; its objects are dropped", logical_id)
                continue
            restored.objects += self._put_objects(logical_id, objects)
        for logical_id, messages in manifest.get("queues", {}).items():
            if logical_id in resources and logical_id in self.runtime.catalog.physical:
                restored.messages += self._send_messages(self.runtime.resource(logical_id), messages)
        emails = manifest.get("outbox", [])
        self.runtime.moto.restore_outbox(emails)
        restored.emails = len(emails)
        self.restored = restored
        return restored

    def _put_items(self, table: str, path: Path) -> int:
        """The items of a table's file (one JSON item a line), 25 to a BatchWriteItem."""
        dynamodb, count = self.runtime.client("dynamodb"), 0
        with path.open() as lines:
            while batch := [_decode(json.loads(line)) for line in islice(lines, 25)]:
                pending: dict[str, Any] = {table: [{"PutRequest": {"Item": item}} for item in batch]}
                while pending:
                    pending = dynamodb.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
                count += len(batch)
        return count

    def _put_objects(self, logical_id: str, objects: list[dict[str, Any]]) -> int:
        s3, bucket = self.runtime.client("s3"), self.runtime.resource(logical_id)
        for entry in objects:
            extra: dict[str, Any] = {"Metadata": entry.get("metadata") or {}}
            if entry.get("content_type"):
                extra["ContentType"] = entry["content_type"]
            body = (self.snapshot / "objects" / entry["file"]).read_bytes()
            s3.put_object(Bucket=bucket, Key=entry["key"], Body=body, **extra)
        return len(objects)

    def _send_messages(self, queue_url: str, messages: list[dict[str, Any]]) -> int:
        sqs = self.runtime.client("sqs")
        for message in messages:
            attributes = {
                name: {k: v for k, v in value.items() if k in ("DataType", "StringValue")}
                for name, value in (message.get("attributes") or {}).items()
                if "StringValue" in value
            }
            extra: dict[str, Any] = {"MessageAttributes": attributes} if attributes else {}
            if message.get("group_id"):
                extra["MessageGroupId"] = message["group_id"]
                extra["MessageDeduplicationId"] = message.get("deduplication_id") or message["id"]
            sqs.send_message(QueueUrl=queue_url, MessageBody=message["body"], **extra)
        return len(messages)

    # ------------------------------------------------------------------------------------------ save
    def start(self) -> None:
        """Save every ``interval`` seconds while the runtime runs (a crash loses at most that much)."""
        if self.interval <= 0:
            return
        self._thread = threading.Thread(target=self._run, name="state", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.save()
            except Exception:
                log.exception("state: periodic snapshot failed; the previous one is kept")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)

    def save(self) -> Path:
        with self._lock:
            started = time.monotonic()
            self.folder.mkdir(parents=True, exist_ok=True)
            work = self.folder / f".{SNAPSHOT}-{os.getpid()}-{threading.get_ident()}"
            shutil.rmtree(work, ignore_errors=True)
            (work / "objects").mkdir(parents=True)
            (work / "tables").mkdir()
            manifest: dict[str, Any] = {
                "format": FORMAT,
                "saved_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "local_clock": self.runtime.clock.now().strftime("%Y-%m-%dT%H:%M:%SZ"),
                "clock_offset_s": self.runtime.clock.offset_seconds(),
                "tables": {},
                "buckets": {},
                "queues": {},
                "outbox": self.runtime.moto.outbox(),
            }
            for logical_id, _ in self.runtime.template.of_type("AWS::DynamoDB::Table"):
                if logical_id in self.runtime.catalog.physical:
                    name = f"tables/{logical_id}.jsonl"
                    count = self._items(self.runtime.resource(logical_id), work / name)
                    manifest["tables"][logical_id] = {"file": name, "items": count}
            for logical_id, _ in self.runtime.template.of_type("AWS::S3::Bucket"):
                if logical_id in self.runtime.catalog.physical:
                    manifest["buckets"][logical_id] = self._objects(logical_id, work / "objects")
            for logical_id, _ in self.runtime.template.of_type("AWS::SQS::Queue"):
                if logical_id in self.runtime.catalog.physical:
                    manifest["queues"][logical_id] = self._messages(self.runtime.resource(logical_id))
            (work / MANIFEST).write_text(json.dumps(manifest))
            previous = self.folder / f".{SNAPSHOT}-previous"
            shutil.rmtree(previous, ignore_errors=True)
            if self.snapshot.exists():
                self.snapshot.rename(previous)
            work.rename(self.snapshot)
            shutil.rmtree(previous, ignore_errors=True)
            items = sum(saved["items"] for saved in manifest["tables"].values())
            log.info("state: saved %d items to %s in %.2f s", items, self.snapshot, time.monotonic() - started)
            return self.snapshot

    def _items(self, table: str, path: Path) -> int:
        """Write the table's items to ``path``, one JSON item a line, a scan page at a time (memory stays flat)."""
        dynamodb, count = self.runtime.client("dynamodb"), 0
        with path.open("w") as out:
            for page in dynamodb.get_paginator("scan").paginate(TableName=table, ConsistentRead=True):
                for item in page.get("Items", []):
                    out.write(json.dumps(_encode(item)) + "\n")
                    count += 1
        return count

    def _objects(self, logical_id: str, folder: Path) -> list[dict[str, Any]]:
        s3, bucket = self.runtime.client("s3"), self.runtime.resource(logical_id)
        saved: list[dict[str, Any]] = []
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for listed in page.get("Contents", []):
                got = s3.get_object(Bucket=bucket, Key=listed["Key"])
                name = f"{logical_id}-{len(saved)}"
                (folder / name).write_bytes(got["Body"].read())
                saved.append(
                    {
                        "key": listed["Key"],
                        "file": name,
                        "content_type": got.get("ContentType"),
                        "metadata": got.get("Metadata") or {},
                    }
                )
        return saved

    def _messages(self, queue_url: str) -> list[dict[str, Any]]:
        """The queue's messages, read without consuming them (moto's queue, as SQS would list them)."""
        return self.runtime.moto.queue_messages(queue_url)
