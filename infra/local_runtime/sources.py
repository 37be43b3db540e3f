"""Event sources: SQS queues polled like Lambda's event source mapping, EventBridge rules via tap queues.

SQS (``Type: SQS``): long-poll 1 s, batches of up to BatchSize, the real SQS Lambda event. Success
deletes the batch; with ReportBatchItemFailures only the reported messages stay; an error keeps them
all. A message that stays becomes visible again after ``min(2 ** (receive_count - 1), 30)`` seconds
(AWS waits the queue's VisibilityTimeout; locally that would stall a demo for minutes). moto moves a
message to the RedrivePolicy's DLQ when it is received again after maxReceiveCount receives, as SQS does.

EventBridge (``Type: EventBridgeRule``): the rule is created in moto's EventBridge with the template's
pattern and a runtime-created SQS "tap" queue as its target (moto delivers S3 "Object Created" and
put_events there). Each event is invoked once, with its ``time`` set to the local clock; a failing
event is retried with the same back-off and, after RetryPolicy.MaximumRetryAttempts (default 2, as for
Lambda's asynchronous invocations), sent to the event's DeadLetterConfig queue or a runtime-created DLQ.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import re
import threading
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any
from urllib.parse import quote_plus

from .clock import rfc3339

if TYPE_CHECKING:
    from .runtime import LocalRuntime
    from .template import EventSource

log = logging.getLogger("local_runtime")

MOTO_EVENT_ID = "17793124-05d4-b198-2fde-7ededc63b103"  # moto gives every S3 event this id
TAP_TARGET_ID = "local-runtime-tap"


def backoff_seconds(receive_count: int) -> int:
    return int(min(2 ** max(receive_count - 1, 0), 30))


def s3_event_key(key: str) -> str:
    """An object key as S3 writes it in its event notifications: URL-encoded, a space as ``+``, ``/`` kept.

    moto puts the raw key in the event; a consumer that decodes it as it must on AWS (``unquote_plus``)
    then decoded it a second time (``a+b.csv`` became ``a b.csv``, ``%41`` became ``A``).
    """
    return quote_plus(key, safe="/")


def queue_name_of(url_or_arn: str) -> str:
    return str(url_or_arn).rstrip("/").replace(":", "/").rsplit("/", 1)[-1]


def _safe_name(text: str, limit: int) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "-", text)[:limit]


class _Poller(ABC):
    kind = "source"
    batch_size = 10
    enabled = True

    def __init__(self, runtime: LocalRuntime, source: EventSource) -> None:
        self.runtime = runtime
        self.source = source
        self.queue_url = ""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def label(self) -> str:
        return f"{self.source.function_id}.{self.source.name}"

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"{self.kind}:{self.label}", daemon=True)
        self._thread.start()

    def signal_stop(self) -> None:
        self._stop.set()

    def join(self, timeout: float) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        sqs = self.runtime.moto.client("sqs")
        while not self._stop.is_set():
            try:
                messages = sqs.receive_message(
                    QueueUrl=self.queue_url,
                    MaxNumberOfMessages=min(10, self.batch_size),
                    WaitTimeSeconds=1,
                    AttributeNames=["All"],
                    MessageAttributeNames=["All"],
                ).get("Messages", [])
                while messages and len(messages) < self.batch_size:
                    more = sqs.receive_message(
                        QueueUrl=self.queue_url,
                        MaxNumberOfMessages=min(10, self.batch_size - len(messages)),
                        WaitTimeSeconds=0,
                        AttributeNames=["All"],
                        MessageAttributeNames=["All"],
                    ).get("Messages", [])
                    if not more:
                        break
                    messages += more
                if messages:
                    self.deliver(sqs, messages)
            except Exception:
                if self._stop.is_set():
                    return
                log.exception("%s: polling %s failed; retrying in 1 s", self.label, self.queue_url)
                self._stop.wait(1.0)

    @abstractmethod
    def deliver(self, sqs: Any, messages: list[dict[str, Any]]) -> None:
        """Invoke the function for these received messages and settle each one."""

    @staticmethod
    def _retry_later(sqs: Any, queue_url: str, messages: list[dict[str, Any]]) -> None:
        entries = [
            {
                "Id": str(i),
                "ReceiptHandle": m["ReceiptHandle"],
                "VisibilityTimeout": backoff_seconds(int(m.get("Attributes", {}).get("ApproximateReceiveCount", 1))),
            }
            for i, m in enumerate(messages)
        ]
        for start in range(0, len(entries), 10):
            sqs.change_message_visibility_batch(QueueUrl=queue_url, Entries=entries[start : start + 10])

    @staticmethod
    def _delete(sqs: Any, queue_url: str, messages: list[dict[str, Any]]) -> None:
        entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)]
        for start in range(0, len(entries), 10):
            sqs.delete_message_batch(QueueUrl=queue_url, Entries=entries[start : start + 10])


class SqsSource(_Poller):
    kind = "sqs"

    def __init__(self, runtime: LocalRuntime, source: EventSource) -> None:
        super().__init__(runtime, source)
        props = runtime.catalog.resolve(source.properties)
        self.queue_arn = str(props["Queue"])
        self.batch_size = int(props.get("BatchSize", 10))
        self.report_failures = "ReportBatchItemFailures" in (props.get("FunctionResponseTypes") or [])
        self.enabled = str(props.get("Enabled", "true")).lower() != "false"
        sqs = runtime.moto.client("sqs")
        self.queue_url = sqs.get_queue_url(QueueName=queue_name_of(self.queue_arn))["QueueUrl"]

    def _record(self, message: dict[str, Any]) -> dict[str, Any]:
        attributes = {}
        for name, value in (message.get("MessageAttributes") or {}).items():
            attributes[name] = {
                "stringValue": value.get("StringValue"),
                "binaryValue": base64.b64encode(value["BinaryValue"]).decode() if "BinaryValue" in value else None,
                "stringListValues": value.get("StringListValues", []),
                "binaryListValues": [base64.b64encode(v).decode() for v in value.get("BinaryListValues", [])],
                "dataType": value.get("DataType"),
            }
            attributes[name] = {k: v for k, v in attributes[name].items() if v is not None}
        stamped = dict(message.get("Attributes") or {})
        sent_at = self.runtime.moto.sqs_sent_at(message["MessageId"])
        if sent_at is not None and "SentTimestamp" in stamped:
            stamped["SentTimestamp"] = sent_at  # the local clock's send time (moto keeps the wall clock's)
        record = {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message.get("Body", ""),
            "attributes": stamped,
            "messageAttributes": attributes,
            "md5OfBody": message.get("MD5OfBody"),
            "eventSource": "aws:sqs",
            "eventSourceARN": self.queue_arn,
            "awsRegion": self.runtime.region,
        }
        if message.get("MD5OfMessageAttributes"):
            record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
        return record

    def deliver(self, sqs: Any, messages: list[dict[str, Any]]) -> None:
        event = {"Records": [self._record(m) for m in messages]}
        pool = self.runtime.pools[self.source.function_id]
        invocation = pool.invoke(event, f"sqs {queue_name_of(self.queue_arn)} x{len(messages)}")
        failed = self._failed_ids(invocation, messages)
        keep = [m for m in messages if m["MessageId"] in failed]
        done = [m for m in messages if m["MessageId"] not in failed]
        if done:
            self._delete(sqs, self.queue_url, done)
            for message in done:
                self.runtime.moto.forget_sqs_message(message["MessageId"])
        if keep:
            log.warning(
                "%s: %d of %d messages failed; redelivered after back-off", self.label, len(keep), len(messages)
            )
            self._retry_later(sqs, self.queue_url, keep)

    def _failed_ids(self, invocation: Any, messages: list[dict[str, Any]]) -> set[str]:
        everything = {m["MessageId"] for m in messages}
        if not invocation.ok:
            return everything
        if not self.report_failures or not isinstance(invocation.payload, dict):
            return set()
        failures = invocation.payload.get("batchItemFailures")
        if not failures:
            return set()
        failed = set()
        for item in failures if isinstance(failures, list) else [None]:
            identifier = item.get("itemIdentifier") if isinstance(item, dict) else None
            if not identifier or identifier not in everything:
                log.error("%s: invalid batchItemFailures item %r: the whole batch fails", self.label, item)
                return everything
            failed.add(identifier)
        return failed


class EventBridgeSource(_Poller):
    kind = "eventbridge"

    def __init__(self, runtime: LocalRuntime, source: EventSource) -> None:
        super().__init__(runtime, source)
        props = runtime.catalog.resolve(source.properties)
        prefix = _safe_name(f"{runtime.stack_name}-{source.function_id}-{source.name}", 70)
        self.rule_name = str(props.get("RuleName") or prefix[:64])
        self.bus = str(props.get("EventBusName") or "default").rsplit("/", 1)[-1]
        self.pattern = props.get("Pattern") or {}
        self.input = props.get("Input")
        self.input_path = props.get("InputPath")
        self.max_retries = int((props.get("RetryPolicy") or {}).get("MaximumRetryAttempts", 2))
        self.enabled = str(props.get("State", "ENABLED")).upper() != "DISABLED"
        self._stamps: dict[str, str] = {}
        sqs = runtime.moto.client("sqs")
        events = runtime.moto.client("events")
        self.queue_url = sqs.create_queue(QueueName=f"{prefix}-tap")["QueueUrl"]
        tap_arn = sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        dlq_arn = (props.get("DeadLetterConfig") or {}).get("Arn")
        if dlq_arn:
            self.dlq_url = sqs.get_queue_url(QueueName=queue_name_of(dlq_arn))["QueueUrl"]
        else:
            self.dlq_url = sqs.create_queue(QueueName=f"{prefix}-dlq")["QueueUrl"]
        if self.bus != "default":
            with contextlib.suppress(events.exceptions.ResourceAlreadyExistsException):
                events.create_event_bus(Name=self.bus)
        rule = events.put_rule(
            Name=self.rule_name,
            EventPattern=json.dumps(self.pattern),
            EventBusName=self.bus,
            State="ENABLED" if self.enabled else "DISABLED",
        )
        self.rule_arn = rule["RuleArn"]
        events.put_targets(Rule=self.rule_name, EventBusName=self.bus, Targets=[{"Id": TAP_TARGET_ID, "Arn": tap_arn}])
        self.target_arn = runtime.catalog.get_att(source.function_id, "Arn")

    def _event(self, message: dict[str, Any]) -> Any:
        event = json.loads(message["Body"])
        if isinstance(event, dict):
            event["time"] = self._stamps.setdefault(message["MessageId"], rfc3339(self.runtime.clock.now()))
            if event.get("id") in (None, "", MOTO_EVENT_ID):
                event["id"] = message["MessageId"]
            detail = event.get("detail")
            if event.get("source") == "aws.s3" and isinstance(detail, dict) and isinstance(detail.get("object"), dict):
                obj = detail["object"]
                if isinstance(obj.get("key"), str):
                    obj["key"] = s3_event_key(obj["key"])
                if "eTag" in obj:
                    obj.setdefault("etag", obj.pop("eTag"))
                if detail.get("source-ip-address") == "1.2.3.4":
                    detail["source-ip-address"] = "127.0.0.1"
        if self.input is not None:
            return json.loads(self.input) if isinstance(self.input, str) else self.input
        if self.input_path:
            value: Any = event
            for part in [p for p in str(self.input_path).lstrip("$").split(".") if p]:
                value = value.get(part) if isinstance(value, dict) else None
            return value
        return event

    def deliver(self, sqs: Any, messages: list[dict[str, Any]]) -> None:
        pool = self.runtime.pools[self.source.function_id]
        for message in messages:
            event = self._event(message)
            detail_type = event.get("detail-type", "event") if isinstance(event, dict) else "event"
            invocation = pool.invoke(event, f"eventbridge {self.rule_name} {detail_type}")
            if invocation.ok:
                self._delete(sqs, self.queue_url, [message])
                self._stamps.pop(message["MessageId"], None)
                continue
            attempts = int(message.get("Attributes", {}).get("ApproximateReceiveCount", 1))
            if attempts <= self.max_retries:
                self._retry_later(sqs, self.queue_url, [message])
                continue
            sqs.send_message(
                QueueUrl=self.dlq_url,
                MessageBody=json.dumps(event),
                MessageAttributes={
                    "ERROR_CODE": {
                        "DataType": "String",
                        "StringValue": str(invocation.error and invocation.error.get("errorType")),
                    },
                    "ERROR_MESSAGE": {"DataType": "String", "StringValue": invocation.error_message[:1000] or "-"},
                    "RULE_ARN": {"DataType": "String", "StringValue": self.rule_arn},
                    "TARGET_ARN": {"DataType": "String", "StringValue": str(self.target_arn)},
                },
            )
            self._delete(sqs, self.queue_url, [message])
            self._stamps.pop(message["MessageId"], None)
            log.error(
                "%s: event %s failed %d times; sent to the dead-letter queue %s",
                self.label,
                message["MessageId"],
                attempts,
                queue_name_of(self.dlq_url),
            )
