"""Where moto 5.2.5 does not last a working day, and the runtime's fixes: one seam, guarded by moto's version.

A runtime meant to stay up for a working day cannot keep what moto 5.2.5 keeps, nor fail at a reset:

* **Every model object ever built.** ``moto.core.common_models.BaseModel.__new__`` appends each instance
  (every DynamoDB item, SQS message, S3 key, EventBridge event...) to a class-level list,
  ``instances_tracked``, which only moto's reset empties. It feeds moto's dashboard
  (``/moto-api/data.json``), which the runtime does not serve, and a last ``dispose()`` of S3 keys at reset,
  which the bucket pass before it already does. Deleted items, consumed messages and overwritten objects
  are thus never freed.
* **A reset that races with imports.** moto's reset walks its registry of model classes, which a moto
  service imported meanwhile by another thread grows: ``dictionary changed size during iteration``. The
  reset here walks a copy.
* **A deep copy of the table per TransactWriteItems.** ``DynamoDBBackend.transact_write_items`` backs up
  each table the transaction touches with ``copy.deepcopy`` (once per action), to put the whole table
  back if an action fails. Every copied item went to the list above: after a few thousand transactions
  on a busy table the process held gigabytes, and each transaction cost O(table size) CPU. Here the
  backup is per item instead: the items the transaction addresses are copied before it runs and put
  back if it fails, which is what the whole-table copy achieved for them (the other items are not
  touched by the transaction), without replacing the table object under concurrent writers.

* **A PUT body read as a form.** werkzeug parses any body sent as ``application/x-www-form-urlencoded``
  (what ``curl --data-binary`` sends by default) as a form, and moto then stored an empty S3 object; S3
  stores the bytes. A PUT's body is never parsed as a form here.

And for the local clock: ``report_sqs_sends()``, so the runtime can stamp each SQS message with its own
clock's ``SentTimestamp`` where moto stamps the wall clock.

And for speed, the same seam holds the other patches of moto's internals:

* ``speed_up_moto()`` (the runtime's server): DynamoDB data-plane responses dumped directly, moto's
  dispatcher caches, and ``index_partition_query()`` (an index queried over its own projected entries);
* ``fast_moto()`` (the usage functional tests and the benchmarks): base-table queries over one partition,
  SQS's clock read once, and the per-item transaction backup above, so those tests run moto's own
  transaction code rather than a copy of it.

Every patch is written against the moto versions of ``PATCHED_MOTO_VERSIONS``; on any other version
``require_known_moto()`` raises ``UnknownMotoVersionError`` before one of them touches moto, so an upgrade
fails loudly until each patch is re-checked (each has a test showing why it exists:
tests/functional/test_local_runtime_memory.py, test_local_runtime.py, test_moto_patches.py).
"""

from __future__ import annotations

import base64
import contextlib
import copy
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from . import dynamodb_limits

log = logging.getLogger("local_runtime")

PATCHED_MOTO_VERSIONS = frozenset({"5.2.5"})


def moto_version() -> str:
    import moto

    return str(moto.__version__)


class UnknownMotoVersionError(RuntimeError):
    """The installed moto is not one these patches were written against: they must be re-checked first."""


def require_known_moto() -> None:
    """Fail loudly on a moto these patches were not written for, before any of them touches its internals."""
    version = moto_version()
    if version not in PATCHED_MOTO_VERSIONS:
        raise UnknownMotoVersionError(
            f"moto {version}: the patches of local_runtime/moto_patches.py were written for moto "
            f"{', '.join(sorted(PATCHED_MOTO_VERSIONS))}. Check each one against this version (each has a test "
            "showing why it exists), then add the version to PATCHED_MOTO_VERSIONS."
        )


def apply() -> Callable[[], None]:
    """Install the memory fixes (moto's version checked first); returns the function that undoes them."""
    require_known_moto()
    undo = [stop_tracking_model_instances(), back_up_transactions_per_item(), put_bodies_are_not_forms()]

    def undo_all() -> None:
        for step in reversed(undo):
            step()

    return undo_all


def _reset_model_data() -> None:
    """moto's ``reset_model_data`` over a copy of its registry.

    moto iterates the registry of model classes while another thread may be importing a moto service
    (the runtime imports moto's CloudFormation, hence every service, in the background while it starts),
    which adds classes to it: moto's reset then failed with ``dictionary changed size during iteration``.
    """
    from moto.core.model_instances import model_data

    for models in list(model_data.values()):
        for model in list(models.values()):
            model.instances_tracked = []  # type: ignore[attr-defined]


def stop_tracking_model_instances() -> Callable[[], None]:
    """``BaseModel.__new__`` without the append to ``instances_tracked``; empties the lists kept so far."""
    from moto.core import model_instances
    from moto.core import models as core_models
    from moto.core.common_models import BaseModel
    from moto.moto_api._internal import models as api_models

    original = BaseModel.__dict__["__new__"]
    original_resets = (model_instances.reset_model_data, core_models.reset_model_data, api_models.reset_model_data)

    def __new__(cls: type, *args: Any, **kwargs: Any) -> Any:
        return object.__new__(cls)

    BaseModel.__new__ = __new__  # type: ignore[assignment]
    for module in (model_instances, core_models, api_models):
        module.reset_model_data = _reset_model_data  # type: ignore[attr-defined]
    _reset_model_data()

    def undo() -> None:
        BaseModel.__new__ = original
        for module, reset in zip((model_instances, core_models, api_models), original_resets, strict=True):
            module.reset_model_data = reset  # type: ignore[attr-defined]

    return undo


class _TablesNotCopied:
    """What ``moto.dynamodb.models`` sees as its ``copy`` module: tables are not deep-copied, the rest is."""

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)

    @staticmethod
    def deepcopy(value: Any, memo: dict[int, Any] | None = None) -> Any:
        from moto.dynamodb.models.table import Table

        return value if isinstance(value, Table) else copy.deepcopy(value, memo)


def _addressed_items(backend: Any, transact_items: list[dict[str, Any]]) -> list[tuple[Any, Any, Any, Any]]:
    """(table, hash key, range key, a copy of the item or None) for every item the transaction addresses."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    found = []
    for entry in transact_items:
        if not isinstance(entry, dict) or len(entry) != 1:
            continue  # moto refuses the transaction before any write
        op = next(iter(entry.values()))
        table = backend.tables.get(op.get("TableName")) if isinstance(op, dict) else None
        attributes = (op.get("Key") or op.get("Item")) if table is not None else None
        if not isinstance(attributes, dict) or table.hash_key_attr not in attributes:
            continue
        try:
            hash_key = DynamoType(attributes[table.hash_key_attr])
            range_key = None
            if table.range_key_attr is not None:
                if table.range_key_attr not in attributes:
                    continue
                range_key = DynamoType(attributes[table.range_key_attr])
            current = table.get_item(hash_key, range_key)
        except Exception:  # a malformed key: moto refuses the transaction before any write
            continue
        found.append((table, hash_key, range_key, copy.deepcopy(current)))
    return found


def _put_back(table: Any, hash_key: Any, range_key: Any, item: Any) -> None:
    if range_key is None:
        if item is None:
            table.items.pop(hash_key, None)
        else:
            table.items[hash_key] = item
    elif item is None:
        table.items.get(hash_key, {}).pop(range_key, None)
    else:
        table.items[hash_key][range_key] = item


def back_up_transactions_per_item() -> Callable[[], None]:
    """TransactWriteItems backs up the items it addresses instead of deep-copying whole tables."""
    from moto.dynamodb import models
    from moto.dynamodb.models import DynamoDBBackend

    original = DynamoDBBackend.transact_write_items
    original_copy = models.copy

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        backup = _addressed_items(self, transact_items)
        try:
            original(self, transact_items)
        except BaseException:
            for table, hash_key, range_key, item in reversed(backup):
                _put_back(table, hash_key, range_key, item)
            raise

    transact_write_items.__wrapped__ = original  # type: ignore[attr-defined]
    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]
    models.copy = _TablesNotCopied()  # type: ignore[assignment]

    def undo() -> None:
        DynamoDBBackend.transact_write_items = original  # type: ignore[method-assign]
        models.copy = original_copy

    return undo


def put_bodies_are_not_forms() -> Callable[[], None]:
    """moto's requests parse form data for every method but PUT (an object upload's body is the object)."""
    from moto.core.request import Request

    inherited = "want_form_data_parsed" not in Request.__dict__
    original = Request.want_form_data_parsed

    def want_form_data_parsed(self: Any) -> bool:
        return self.method != "PUT" and bool(self.environ.get("CONTENT_TYPE"))

    Request.want_form_data_parsed = property(want_form_data_parsed)  # type: ignore[assignment,method-assign]

    def undo() -> None:
        if inherited:
            del Request.want_form_data_parsed
        else:
            Request.want_form_data_parsed = original  # type: ignore[method-assign]

    return undo


# ------------------------------------------------------------------------ speed (moved from aws.py)


# DynamoDB data-plane operations: their results are already wire-format JSON (AttributeValue maps).
def report_sqs_sends(backend: Any, on_sent: Callable[[str], None]) -> Callable[[], None]:
    """Tell ``on_sent`` the id of every message an SQS backend sends; returns the function that undoes it.

    SQS stamps ``SentTimestamp`` when a message is sent, and a worker's business time comes from it. moto
    5.2.5 stamps the wall clock (and needs it for its own retention and visibility checks), so the local
    runtime, whose clock can stand anywhere on the calendar, keeps its own clock's stamp beside it, per
    message id, and puts that in the records its pollers deliver. ``send_message_batch`` sends through
    ``send_message``, so wrapping the one method sees every message.
    """
    require_known_moto()

    def stamped(*args: Any, __original: Any = backend.send_message, **kwargs: Any) -> Any:
        message = __original(*args, **kwargs)
        on_sent(message.id)
        return message

    backend.send_message = stamped

    def undo() -> None:
        vars(backend).pop("send_message", None)

    return undo


FAST_DYNAMODB_OPERATIONS = dynamodb_limits.DATA_PLANE


def _blob(value: Any) -> str:
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _projected_names(index: Any) -> list[str] | None:
    """The attributes an index holds of each item: None when it holds them all (``ALL``)."""
    projection = index.projection or {}
    kind = projection.get("ProjectionType", "ALL")
    if kind not in ("KEYS_ONLY", "INCLUDE"):
        return None
    keep = list(dict.fromkeys([*index.table_key_attrs, *index.schema_key_attrs]))
    if kind == "INCLUDE":
        keep.extend(a for a in projection.get("NonKeyAttributes", []) if a not in keep)
    return keep


def _index_partition(table: Any, hash_attr: str, hash_key: Any) -> Iterator[Any]:
    """The table's items whose index hash key attribute is ``hash_key``, in the table's order."""
    for partition in table.items.values():
        for item in partition.values() if table.range_key_attr else (partition,):
            value = item.attrs.get(hash_attr)
            if value is not None and value == hash_key:
                yield item


def index_partition_query() -> Callable[[], None]:
    """Query a secondary index over its own entries, as DynamoDB does; returns the function that undoes it.

    moto 5.2.5 answers a Query on an index by sorting every item of the table, deep-copying each matching
    *whole* item (a data point's sketch included), projecting it with a JSON round trip per attribute and
    then once more for the ProjectionExpression, and it applies the 1 MB page limit to the whole items.
    On DynamoDB an index holds just its projection: a keys-only query over an account's 1,500 data points
    reads one ~100 KB page of four short strings each, while moto spent 0.3-0.5 ms per entry on
    attributes the index never held. Here moto's query runs over the index partition's entries, each
    built with only the projected attributes (the item's own values, which nothing downstream changes, so
    moto's copy of an entry is the entry), and the query's projection onto top-level attribute names
    selects them instead of the JSON round trip. The sort order, conditions, filters, paging and response
    are moto's own; the page limit now counts what the index holds, as DynamoDB's does. The overrides are
    per thread (the runtime serves requests in parallel); tests/functional/test_local_runtime.py checks
    the answers match moto's unpatched ones.
    """
    require_known_moto()
    from moto.dynamodb.models.dynamo_type import Item
    from moto.dynamodb.models.table import SecondaryIndex, Table

    original_query, original_all_items = Table.query, Table.all_items
    original_index_project, original_item_project = SecondaryIndex.project, Item.project
    local = threading.local()

    class Entry(Item):
        """A projection built for one query: nobody else holds it, so moto's copy of it is itself."""

        def __deepcopy__(self, memo: dict[int, Any]) -> Any:
            return self

    def projected(item: Any, names: Iterable[str]) -> Any:
        entry = Entry(item.hash_key, item.range_key, {})
        # The values passed the item size check when written: no need to check them again one by one.
        dict.update(entry.attrs, {name: item.attrs[name] for name in names if name in item.attrs})
        return entry

    def query(self: Any, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        index_name = args[6] if len(args) > 6 else kwargs.get("index_name")
        index = {i.name: i for i in self.all_indexes()}.get(index_name) if index_name else None
        hash_attrs = [k["AttributeName"] for k in index.schema if k["KeyType"] == "HASH"] if index else []
        if hash_key is None or len(hash_attrs) != 1 or getattr(local, "entries", None) is not None:
            return original_query(self, hash_key, *args, **kwargs)
        keep = _projected_names(index)
        entries = [
            item if keep is None else projected(item, keep) for item in _index_partition(self, hash_attrs[0], hash_key)
        ]
        entries.sort(key=lambda x: (x.hash_key, x.range_key) if x.range_key else x.hash_key)
        local.entries, local.table = entries, self
        try:
            return original_query(self, hash_key, *args, **kwargs)
        finally:
            local.entries = local.table = None

    def all_items(self: Any) -> Any:
        if getattr(local, "table", None) is self:
            return local.entries  # what moto's query reads: the index partition's entries
        return original_all_items(self)

    def index_project(self: Any, item: Any) -> Any:
        if getattr(local, "entries", None) is not None:
            return item  # already projected
        return original_index_project(self, item)

    def item_project(self: Any, projection_expressions: list[list[str]]) -> Any:
        top_level = all(len(path) == 1 and "[" not in path[0] for path in projection_expressions)
        if top_level and getattr(local, "entries", None) is not None:  # entries of an index query, copied
            return projected(self, (path[0] for path in projection_expressions))
        return original_item_project(self, projection_expressions)

    Table.query, Table.all_items = query, all_items  # type: ignore[method-assign]
    SecondaryIndex.project, Item.project = index_project, item_project  # type: ignore[method-assign]

    def undo() -> None:
        Table.query, Table.all_items = original_query, original_all_items  # type: ignore[method-assign]
        SecondaryIndex.project, Item.project = original_index_project, original_item_project  # type: ignore[method-assign]

    query.undo = undo  # type: ignore[attr-defined]  # what the test comparing with moto's own answers calls
    return undo


def speed_up_moto() -> Callable[[], None]:
    """Make moto's server cheaper per request; returns the function that undoes it.

    moto 5.2.5 serializes every response by walking the botocore output shape: about 1.3 ms of the
    runtime's CPU for one GetItem of a 10-attribute item, which caps the whole local API at ~200 req/s
    on two cores. DynamoDB data-plane results are already in wire format, so for those operations the
    result is dumped directly (keeping only the output shape's members, blobs base64-encoded, like the
    serializer); tests/functional/test_local_runtime.py checks both give the same response. It also
    caches what moto's dispatcher recomputes on every request: the listing of its own package folder
    and each response class's method names (``inspect.getmembers``).
    """
    require_known_moto()
    from botocore.model import ServiceModel
    from moto import backends
    from moto.core import responses
    from moto.core.responses import ActionResult
    from moto.core.utils import get_service_model

    original_list = backends.list_of_moto_modules
    original_serialized = responses.BaseResponse.serialized
    modules = list(original_list())
    members: dict[str, frozenset[str]] = {}
    service: list[ServiceModel] = []

    def serialized(self: Any, action_result: Any) -> Any:
        result = action_result.result
        if (
            type(action_result).execute_result is ActionResult.execute_result
            and isinstance(result, dict)
            and self.boto3_service_name == "dynamodb"
        ):
            action = self._get_action()
            if action in FAST_DYNAMODB_OPERATIONS:
                if action not in members:
                    if not service:
                        service.append(get_service_model("dynamodb"))
                    members[action] = frozenset(service[0].operation_model(action).output_shape.members)
                keep = members[action]
                body = json.dumps({k: v for k, v in result.items() if k in keep}, default=_blob)
                return 200, {"Content-Type": "application/x-amz-json-1.0", **self.response_headers}, body
        return original_serialized(self, action_result)

    original_method_names = responses.method_names_from_class
    method_names: dict[object, list[str]] = {}

    def cached_method_names(clazz: object) -> list[str]:
        if clazz not in method_names:
            method_names[clazz] = original_method_names(clazz)
        return method_names[clazz]

    serialized.__wrapped__ = original_serialized  # type: ignore[attr-defined]
    backends.list_of_moto_modules = lambda: modules  # type: ignore[assignment]
    responses.BaseResponse.serialized = serialized  # type: ignore[method-assign]
    responses.method_names_from_class = cached_method_names  # type: ignore[assignment]

    undo_index_query = index_partition_query()

    def undo() -> None:
        undo_index_query()
        backends.list_of_moto_modules = original_list  # type: ignore[assignment]
        responses.BaseResponse.serialized = original_serialized  # type: ignore[method-assign]
        responses.method_names_from_class = original_method_names  # type: ignore[assignment]

    return undo


# ------------------------------------------------------------------- test and benchmark speed-ups


def partition_queries() -> Callable[[], None]:
    """A base-table Query reads its partition: moto sorts every item of the table to find it.

    What moto's query filters is the partition's items, per thread: concurrent queries (the tests' threads)
    each read their own partition.
    """
    require_known_moto()
    from moto.dynamodb.models.table import Table

    original_query, original_all_items = Table.query, Table.all_items
    local = threading.local()

    def query(self: Any, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        index_name = args[6] if len(args) > 6 else kwargs.get("index_name")
        if index_name or hash_key is None or not self.range_key_attr:
            return original_query(self, hash_key, *args, **kwargs)
        outer = getattr(local, "table", None), getattr(local, "items", None)
        local.table = self
        local.items = sorted(self.items.get(hash_key, {}).values(), key=lambda item: item.range_key)
        try:
            return original_query(self, hash_key, *args, **kwargs)
        finally:
            local.table, local.items = outer

    def all_items(self: Any) -> Any:
        if getattr(local, "table", None) is self:
            return local.items  # what moto filters: just this partition
        return original_all_items(self)

    Table.query, Table.all_items = query, all_items

    def undo() -> None:
        Table.query, Table.all_items = original_query, original_all_items

    return undo


def plain_sqs_clock() -> Callable[[], None]:
    """moto's SQS asks every message for the time through datetime conversions (~10 us each) whenever a
    queue's attributes are read, which every SendMessage does: the same epoch time from ``time.time()``."""
    require_known_moto()
    from moto.sqs import models as sqs_models

    original = (sqs_models.unix_time, sqs_models.unix_time_millis)

    def unix_time(dt: Any = None) -> float:
        return time.time() if dt is None else float(original[0](dt))

    def unix_time_millis(dt: Any = None) -> float:
        return unix_time(dt) * 1000.0

    sqs_models.unix_time, sqs_models.unix_time_millis = unix_time, unix_time_millis

    def undo() -> None:
        sqs_models.unix_time, sqs_models.unix_time_millis = original

    return undo


@contextlib.contextmanager
def fast_moto() -> Iterator[None]:
    """moto without its O(table) costs (same semantics), for the usage functional tests and the benchmarks."""
    require_known_moto()
    undo = [back_up_transactions_per_item(), partition_queries(), plain_sqs_clock()]
    try:
        yield
    finally:
        for step in reversed(undo):
            step()
