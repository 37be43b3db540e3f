"""Conditional writes that a retry after a lost answer can neither fail nor apply twice.

DynamoDB may commit a write and lose its answer (a 500 after the commit); the SDK then sends it again.
A TransactWriteItems carries a ``ClientRequestToken``: within 10 minutes the same token with the same
request is answered with the first success and nothing is written again. Ours are deterministic — a
digest of the operation's identity and of the request itself — so a retry of the same operation is
recognised whoever sends it (botocore, a conflict retry, a redelivered job), and two different requests
never share a token (no ``IdempotentParameterMismatchException``).

A single-item write has no token: its condition fails on the retry of a write that committed. On
``ConditionalCheckFailedException`` the item is read back (strongly consistent) and the write counts as
done when the item is exactly what this call wrote (``save_once``) or shows this call's change
(``update_once``).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable
from typing import Any

from pynamodb.exceptions import PutError, UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from audiens.dal.base import conditional_failed

TOKEN_LENGTH = 36  # DynamoDB's limit for a ClientRequestToken


def request_token(identity: str, request: Any) -> str:
    """The ``ClientRequestToken`` of ``request`` made by the operation ``identity``."""
    content = json.dumps(request, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(f"{identity}\n{content}".encode()).hexdigest()[:TOKEN_LENGTH]


class IdempotentTransactWrite(TransactWrite):
    """A PynamoDB ``TransactWrite`` whose token is ``request_token(identity, <its actions>)``."""

    def __init__(self, identity: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._identity = identity

    def _commit(self) -> Any:
        actions = [self._condition_check_items, self._delete_items, self._put_items, self._update_items]
        self._client_request_token = request_token(self._identity, actions)
        return super()._commit()


def transact_write(client: Any, items: list[dict[str, Any]], identity: str) -> Any:
    """``TransactWriteItems`` on a botocore client with the deterministic token."""
    return client.transact_write_items(TransactItems=items, ClientRequestToken=request_token(identity, items))


def write_marker() -> str:
    """A fresh ``write_id`` for an item whose content alone cannot tell this call's write from another's
    (two identical requests at one instant): the item read back is this call's only if it carries it."""
    return uuid.uuid4().hex


def _read_back[M: Model](item: M) -> M | None:
    cls = type(item)
    hash_key = getattr(item, str(cls._hash_keyname))
    range_key = getattr(item, cls._range_keyname) if cls._range_keyname else None
    try:
        return cls.get(hash_key, range_key, consistent_read=True)
    except cls.DoesNotExist:
        return None


def _canonical(item: Model) -> dict[str, Any]:
    """The item's attribute values with its sets in order (DynamoDB does not keep a set's order)."""
    values = item.serialize()
    for value in values.values():
        for kind in ("SS", "NS", "BS"):
            if kind in value:
                value[kind] = sorted(value[kind])
    return values


def save_once(item: Model, condition: Condition) -> bool:
    """Put ``item`` under ``condition``; True when written, or found exactly as written (a retried commit).

    False when the condition failed for another reason (the caller's conflict)."""
    try:
        item.save(condition=condition)
    except PutError as error:
        if not conditional_failed(error):
            raise
        stored = _read_back(item)
        return stored is not None and _canonical(stored) == _canonical(item)
    return True


def update_once[M: Model](item: M, actions: list[Action], condition: Condition, applied: Callable[[M], bool]) -> bool:
    """Update ``item`` under ``condition``; True when written, or when the item read back shows this call's
    change (``applied``: a retried commit). False when the condition failed for another reason."""
    try:
        item.update(actions=actions, condition=condition)
    except UpdateError as error:
        if not conditional_failed(error):
            raise
        stored = _read_back(item)
        return stored is not None and applied(stored)
    return True
