"""Pure ASGI middleware: request ids, body size limits, last-resort error handling."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any

from instapods.errors import AppError, BadRequest, PayloadTooLarge
from instapods.kit.ids import new_id

log = logging.getLogger("instapods.http")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

STREAMED_TYPES = ("multipart/form-data", "application/octet-stream")
SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
]


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return str(value.decode("latin-1"))
    return None


async def _send_json(send: Send, status: int, body: dict[str, Any], headers: list[Any]) -> None:
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


class RequestContext:
    """Gives every request an id, enforces body limits and turns crashes into a generic 500.

    JSON (and any other non-streamed) bodies are capped at `max_json`, read up front when the
    client sends no Content-Length; multipart and octet-stream bodies are capped at `max_body`
    by their declared length and left to the endpoint to stream.
    """

    def __init__(
        self,
        app: ASGIApp,
        max_json: int,
        max_body: int,
        larger: Mapping[tuple[str, str], int] | None = None,
    ) -> None:
        self.app = app
        self.max_json = max_json
        self.max_body = max_body
        self.larger = dict(larger or {})  # (method, path suffix) -> limit of that route

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = new_id("req", 16)
        scope.setdefault("state", {})["request_id"] = request_id
        extra = [(b"x-request-id", request_id.encode()), *SECURITY_HEADERS]
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        try:
            receive = await self._limit_body(scope, receive)
            await self.app(scope, receive, send_with_headers)
        except AppError as error:
            if started:
                raise
            await _send_json(send, error.status_code, error.body(), extra)
        except Exception:
            log.exception(
                "unhandled error in %s %s [%s]", scope.get("method"), scope.get("path"), request_id
            )
            if not started:
                body = {"error": "Internal server error", "request_id": request_id}
                await _send_json(send, 500, body, extra)

    async def _limit_body(self, scope: Scope, receive: Receive) -> Receive:
        content_type = (_header(scope, b"content-type") or "").lower()
        streamed = content_type.startswith(STREAMED_TYPES)
        limit = self.max_body if streamed else self.max_json
        method, path = scope.get("method", ""), scope.get("path", "")
        for (route_method, suffix), route_limit in self.larger.items():
            if method == route_method and path.endswith(suffix):
                limit = route_limit
        length = _header(scope, b"content-length")
        if length is not None:
            if not (length.isascii() and length.isdigit()):  # '²'.isdigit() is True
                raise BadRequest("The Content-Length header is not a number")
            if int(length) > limit:
                raise _too_large(limit)
            return receive
        if streamed or scope.get("method") in ("GET", "HEAD", "OPTIONS"):
            return receive
        return await _buffer(receive, limit)


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"The request body is larger than the limit of {limit} bytes")


async def _buffer(receive: Receive, limit: int) -> Receive:
    """Read a chunked body whole (it is small by definition) and replay it."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if replayed:
            return await receive()
        replayed = True
        return {"type": "http.request", "body": b"".join(chunks), "more_body": False}

    return replay
