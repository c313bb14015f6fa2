"""Every error a client can meet has the API.md shape, never FastAPI's `{"detail": ...}`."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from instapods.app import create_app
from instapods.config import Settings
from tests.fixtures.http import Client

REGISTER = "/api/auth/register"
JSON = {"content-type": "application/json"}
ONE_MB = 1024 * 1024


def assert_error(response: httpx.Response, status: int) -> dict[str, Any]:
    """The response is `status` with a JSON `{"error": "<sentence>"}` body and a request id."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["x-request-id"].startswith("req_")
    body: dict[str, Any] = response.json()
    assert isinstance(body.get("error"), str)
    assert body["error"]
    assert "detail" not in body
    return body


async def chunks(total: int, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    """A body sent chunked (no Content-Length), `total` bytes of JSON-ish filler."""
    sent = 0
    while sent < total:
        chunk = b" " * min(size, total - sent)
        sent += len(chunk)
        yield chunk


@pytest.mark.parametrize("path", ["/api/no-such-thing", "/nowhere", "/api/teams/x/y/z/w"])
async def test_unknown_route_is_404(client: Client, path: str) -> None:
    body = assert_error(await client.get(path), 404)
    assert body == {"error": "Not found"}


async def test_wrong_method_is_405_with_allow(client: Client) -> None:
    response = await client.delete("/api/plans")
    body = assert_error(response, 405)
    assert body == {"error": "Method not allowed"}
    assert response.headers["allow"] == "GET"


async def test_malformed_json_is_400(client: Client) -> None:
    response = await client.post(REGISTER, content=b'{"email": ', headers=JSON)
    body = assert_error(response, 400)
    assert body == {"error": "The request body is not valid JSON"}


async def test_validation_failure_lists_fields(client: Client) -> None:
    payload = {"email": "not-an-email", "password": "long enough password"}
    body = assert_error(await client.post(REGISTER, json=payload), 400)
    assert body["error"].startswith("Invalid email")
    assert [d["field"] for d in body["details"]] == ["email"]
    assert body["details"][0]["message"]
    assert set(body) == {"error", "details"}


async def test_missing_fields_are_each_reported(client: Client) -> None:
    body = assert_error(await client.post(REGISTER, json={}), 400)
    assert body["details"] == [
        {"field": "email", "message": "This field is required"},
        {"field": "password", "message": "This field is required"},
    ]


async def test_body_of_the_wrong_type_is_400(client: Client) -> None:
    body = assert_error(await client.post(REGISTER, content=b"[1, 2]", headers=JSON), 400)
    assert body["details"][0]["field"] == "body"


async def test_a_name_that_grows_under_nfc_stays_within_its_limit(client: Client) -> None:
    """U+0958 becomes two characters under NFC: 100 of them must not overflow VARCHAR(100).

    Today SQLite stores a 200-character name and PostgreSQL answers 500.
    """
    payload = {
        "email": "nfc@example.com",
        "password": "long enough password",
        "name": "\u0958" * 100,
    }
    response = await client.post(REGISTER, json=payload)
    assert response.status_code in (201, 400), response.text
    if response.status_code == 201:
        assert len(response.json()["user"]["name"]) <= 100


async def test_json_over_one_megabyte_is_413(client: Client) -> None:
    response = await client.post(REGISTER, content=b" " * (ONE_MB + 1), headers=JSON)
    body = assert_error(response, 413)
    assert "1048576" in body["error"]


async def test_json_of_exactly_one_megabyte_is_accepted(client: Client) -> None:
    payload = b'{"email": "edge@example.com", "password": "long enough password"}'
    padded = payload + b" " * (ONE_MB - len(payload))
    response = await client.post(REGISTER, content=padded, headers=JSON)
    assert response.status_code == 201, response.text


async def test_chunked_json_over_one_megabyte_is_413(client: Client) -> None:
    response = await client.post(REGISTER, content=chunks(ONE_MB + 1), headers=JSON)
    assert "content-length" not in response.request.headers
    body = assert_error(response, 413)
    assert "1048576" in body["error"]


async def test_small_chunked_json_reaches_the_endpoint(client: Client) -> None:
    async def body() -> AsyncIterator[bytes]:
        yield b'{"email": "chunked@example.com", '
        yield b'"password": "long enough password"}'

    response = await client.post(REGISTER, content=body(), headers=JSON)
    assert "content-length" not in response.request.headers
    assert response.status_code == 201, response.text
    assert response.json()["user"]["email"] == "chunked@example.com"


@pytest.mark.parametrize("length", [b"abc", b"-1", b"+10", b"1e3", b"\xb2", b""])
async def test_bad_content_length_is_400(client: Client, length: bytes) -> None:
    headers = {b"content-type": b"application/json", b"content-length": length}
    response = await client.post(REGISTER, content=b"{}", headers=headers)
    body = assert_error(response, 400)
    assert body == {"error": "The Content-Length header is not a number"}


async def test_multipart_is_limited_by_the_body_limit_not_the_json_one(client: Client) -> None:
    """Uploads may pass 1 MB (their endpoint streams them); only over 33 MB is refused early."""
    too_big = {"content-type": "multipart/form-data; boundary=x", "content-length": "34603009"}
    assert_error(await client.post(REGISTER, content=b"--x--", headers=too_big), 413)
    two_mb = await client.post(
        "/api/no-upload-here", files={"file": ("a.bin", b"\0" * (2 * ONE_MB))}
    )
    assert_error(two_mb, 404)


async def test_unexpected_exception_is_a_generic_500(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(settings)

    async def explode() -> None:
        raise RuntimeError("secret internals: db password hunter2")

    app.add_api_route("/api/explode", explode, methods=["GET"])
    caplog.set_level(logging.ERROR)
    async with app.router.lifespan_context(app), Client.for_app(app) as client:
        response = await client.get("/api/explode")

    body = assert_error(response, 500)
    request_id = response.headers["x-request-id"]
    assert body == {"error": "Internal server error", "request_id": request_id}
    assert "hunter2" not in response.text
    assert "Traceback" not in response.text
    logged = [r for r in caplog.records if request_id in r.getMessage()]
    assert len(logged) == 1
    assert logged[0].exc_info is not None
    assert "hunter2" in str(logged[0].exc_info[1])
    assert "Traceback" in caplog.text
    assert "/api/explode" in logged[0].getMessage()


async def test_every_response_carries_a_fresh_request_id(client: Client) -> None:
    responses = [
        await client.get("/api/health"),
        await client.get("/api/plans"),
        await client.get("/api/nowhere"),
        await client.put("/api/plans"),
        await client.get("/api/teams"),
        await client.post(REGISTER, content=b"{", headers=JSON),
        await client.post(REGISTER, content=b" " * (ONE_MB + 1), headers=JSON),
        await client.get("/api/docs"),
        await client.get("/api/docs/assets/swagger-ui.css"),
        await client.get("/api/openapi.json"),
    ]
    ids = [r.headers.get("x-request-id") for r in responses]
    assert all(i is not None and i.startswith("req_") for i in ids), ids
    assert len(set(ids)) == len(ids)


async def test_unauthenticated_is_401_in_our_shape(client: Client) -> None:
    body = assert_error(await client.get("/api/auth/user"), 401)
    assert body == {"error": "Authentication required"}
