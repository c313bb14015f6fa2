"""The error tree. Services raise these; one handler renders them as `{"error": ...}`.

Every error carries its HTTP status, one clear sentence, and optionally field `details`
and extra response headers (`Retry-After` for rate limits). Nothing else may reach a client:
framework errors are translated in `install_error_handlers` and unexpected exceptions become a
generic 500 with a request id.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("instapods.errors")


class AppError(Exception):
    status_code = 500
    message = "Internal server error"

    def __init__(
        self,
        message: str | None = None,
        *,
        details: Sequence[Mapping[str, str]] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.message = message or self.message
        self.details = list(details) if details else None
        self.headers = dict(headers) if headers else None
        super().__init__(self.message)

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.message}
        if self.details:
            body["details"] = self.details
        return body


class BadRequest(AppError):
    status_code = 400
    message = "Invalid request"


class ValidationFailed(BadRequest):
    message = "Validation failed"


class Unauthorized(AppError):
    status_code = 401
    message = "Authentication required"


class PaymentRequired(AppError):
    status_code = 402
    message = "Payment required"


class Forbidden(AppError):
    status_code = 403
    message = "You are not allowed to do this"


class NotFound(AppError):
    status_code = 404
    message = "Not found"


class MethodNotAllowed(AppError):
    status_code = 405
    message = "Method not allowed"


class Conflict(AppError):
    status_code = 409
    message = "Conflict"


class PayloadTooLarge(AppError):
    status_code = 413
    message = "Request body too large"


class UnsupportedMediaType(AppError):
    status_code = 415
    message = "Unsupported media type"


class RateLimited(AppError):
    status_code = 429
    message = "Too many requests, try again later"


class NoCapacity(AppError):
    status_code = 503
    message = "No capacity available, try again later"


class ServiceUnavailable(AppError):
    status_code = 503
    message = "Service unavailable"


def error_response(error: AppError) -> JSONResponse:
    return JSONResponse(error.body(), status_code=error.status_code, headers=error.headers)


def _field_name(loc: Sequence[Any]) -> str:
    """("query", "path") -> "path": the first item says where the field was, not its name."""
    where = ("body", "query", "path", "header", "cookie")
    parts = [str(p) for p in (loc[1:] if loc and loc[0] in where else loc)]
    return ".".join(parts) or str(loc[0] if loc else "body")


def translate_validation(exc: RequestValidationError) -> AppError:
    """Turn pydantic's error list into our 400 shape."""
    errors = exc.errors()
    if any(e.get("type") == "json_invalid" for e in errors):
        return BadRequest("The request body is not valid JSON")
    details = []
    for err in errors:
        message = str(err.get("msg", "Invalid value")).removeprefix("Value error, ")
        if err.get("type") == "missing":
            message = "This field is required"
        details.append({"field": _field_name(err.get("loc", ())), "message": message})
    if len(details) == 1:
        summary = f"Invalid {details[0]['field']}: {details[0]['message']}"
    else:
        summary = "Some fields are invalid"
    return ValidationFailed(summary, details=details)


def _request_id(request: Request) -> str:
    return str(getattr(request.state, "request_id", "unknown"))


def _with_rate_limit_headers(request: Request, response: JSONResponse) -> JSONResponse:
    """A rate-limited endpoint reports its counters on errors too (set by ratelimits.py)."""
    for name, value in getattr(request.state, "rate_limit_headers", {}).items():
        response.headers.setdefault(name, value)
    return response


def install_error_handlers(app: FastAPI) -> None:
    async def on_app_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, AppError)
        return _with_rate_limit_headers(request, error_response(exc))

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return _with_rate_limit_headers(request, error_response(translate_validation(exc)))

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        error = {404: NotFound(), 405: MethodNotAllowed()}.get(exc.status_code)
        if error is None:
            error = AppError(str(exc.detail))
            error.status_code = exc.status_code
        if exc.headers:
            error.headers = {**(error.headers or {}), **exc.headers}
        return error_response(error)

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        request_id = _request_id(request)
        log.error(
            "unhandled error in %s %s [%s]",
            request.method,
            request.url.path,
            request_id,
            exc_info=exc,
        )
        body = {"error": "Internal server error", "request_id": request_id}
        return JSONResponse(body, status_code=500, headers={"X-Request-ID": request_id})

    app.add_exception_handler(AppError, on_app_error)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(Exception, on_unexpected)
