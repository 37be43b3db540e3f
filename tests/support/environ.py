"""``os.environ`` changed for a while and restored after (whatever was set or unset before)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator


@contextlib.contextmanager
def environ_replaced(remove: Iterable[str], env: dict[str, str]) -> Iterator[None]:
    """``os.environ`` without the variables ``remove`` names but with ``env``; as it was after."""
    saved = {name: os.environ.pop(name, None) for name in {*remove, *env}}
    os.environ.update(env)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
