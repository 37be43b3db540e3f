"""DynamoDB's limits in the functional and end-to-end suites (``local_runtime/dynamodb_limits.py``).

The suites run with the limits on and a 5 % transient fault rate unless the environment says otherwise
(``AUDIENS_DYNAMODB_LIMITS=off`` runs them on moto as it is). Faults are drawn from a generator seeded
with the test's id (``AUDIENS_FAULT_SEED`` adds to it), so a failure under faults is reproducible.
"""

from __future__ import annotations

import os
from typing import Any

from local_runtime import dynamodb_limits
from local_runtime.dynamodb_limits import Limits

SUITE_DEFAULTS = {dynamodb_limits.ENV_MODE: "real", dynamodb_limits.ENV_FAULT_RATE: "0.05"}


def apply_suite_defaults() -> None:
    for name, value in SUITE_DEFAULTS.items():
        os.environ.setdefault(name, value)


def engine_for(test_id: str, **overrides: Any) -> Limits | None:
    """The engine the environment asks for, its faults seeded with ``test_id``."""
    seed = f"{os.environ.get(dynamodb_limits.ENV_FAULT_SEED, '')}:{test_id}"
    return Limits.from_env(seed=seed, **overrides)
