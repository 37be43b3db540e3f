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

``apply()`` installs them only on the moto versions they were written against (``PATCHED_MOTO_VERSIONS``);
on another version it logs that they were skipped, and ``tests/functional/test_local_runtime_memory.py``
fails until someone checks whether that version still needs them.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger("local_runtime")

PATCHED_MOTO_VERSIONS = frozenset({"5.2.5"})


def moto_version() -> str:
    import moto

    return str(moto.__version__)


def apply() -> Callable[[], None]:
    """Install the fixes if this moto is one they were written for; returns the function that undoes them."""
    version = moto_version()
    if version not in PATCHED_MOTO_VERSIONS:
        log.warning(
            "moto %s: memory fixes written for moto %s skipped; check whether it still keeps every model "
            "instance and a table copy per transaction (local_runtime/moto_patches.py)",
            version,
            ", ".join(sorted(PATCHED_MOTO_VERSIONS)),
        )
        return lambda: None
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
