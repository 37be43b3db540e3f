"""ApiFunction: API Gateway (REST, proxy) → the Powertools resolver in ``audiens.api``."""

from audiens.api.app import handle as lambda_handler

__all__ = ["lambda_handler"]
