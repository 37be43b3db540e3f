"""The Audiens local runtime: the SAM template run on moto, with no AWS account and no Docker.

``python -m local_runtime`` (PYTHONPATH=infra) starts it; tests and the demo use :class:`LocalRuntime`.
Importing this package is cheap on purpose: Lambda worker processes import ``local_runtime.workers``
and must not drag moto or boto3 into the function's interpreter before its environment is set.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .clock import Clock
    from .runtime import LocalRuntime

__all__ = ["Clock", "LocalRuntime"]


def __getattr__(name: str) -> Any:
    if name == "LocalRuntime":
        from .runtime import LocalRuntime

        return LocalRuntime
    if name == "Clock":
        from .clock import Clock

        return Clock
    raise AttributeError(name)
