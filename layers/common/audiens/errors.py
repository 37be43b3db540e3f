"""One error hierarchy for the whole application.

Every failure the user can cause is an ``AppError`` subclass carrying its HTTP status and a stable
snake_case code; the API maps them to the error body of API.md in one place. Domain code raises
them too (they have no I/O), so a rule broken deep in the domain reaches the client unchanged.
"""

from __future__ import annotations

from typing import Any


class AppError(Exception):
    status: int = 400
    code: str = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details: list[dict[str, Any]] = details or []

    def to_body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


class MalformedRequestError(AppError):
    status = 400
    code = "malformed_request"


class UnauthorizedError(AppError):
    status = 401
    code = "unauthorized"


class ForbiddenError(AppError):
    status = 403
    code = "forbidden"


class NotFoundError(AppError):
    status = 404
    code = "not_found"


class MethodNotAllowedError(AppError):
    status = 405
    code = "method_not_allowed"


class NotAcceptableError(AppError):
    status = 406
    code = "not_acceptable"


class ConflictError(AppError):
    status = 409
    code = "conflict"


class PayloadTooLargeError(AppError):
    status = 413
    code = "payload_too_large"


class UnsupportedMediaTypeError(AppError):
    status = 415
    code = "unsupported_media_type"


class ValidationError(AppError):
    status = 422
    code = "validation_error"
