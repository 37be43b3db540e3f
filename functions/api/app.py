"""ApiFunction: API Gateway (REST, proxy) → the Powertools resolver in ``audiens.api``."""

import gc
import sys
from typing import Any

from audiens.api.app import handle
from audiens.config import ApiSettings, configured

# What the init imported and the first requests loaded (the resolver, ~60 routes' models, the services,
# botocore's service model and clients) lives as long as the execution environment. Frozen, a full
# collection no longer walks it again: unfrozen it was a 200-400 ms pause whenever a request building a
# large response (the data points catalog) set one off. Frozen after the first invocations and after any
# that loaded a module (services load on first use).
WARM_UP_INVOCATIONS = 20
_invocations = 0
_modules = 0


@configured(ApiSettings)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    global _invocations, _modules
    try:
        return handle(event, context)
    finally:
        _invocations += 1
        if _invocations <= WARM_UP_INVOCATIONS or len(sys.modules) != _modules:
            _modules = len(sys.modules)
            gc.freeze()


gc.freeze()
_modules = len(sys.modules)

__all__ = ["lambda_handler"]
