"""The session cookie: enough for reads; unsafe requests need an Origin of this server (CSRF)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from fastapi import FastAPI

from tests.auth.support import ORIGIN, login, session_cookie
from tests.fixtures.factories import Factory
from tests.fixtures.http import Client

FOREIGN_ORIGINS = [
    "http://evil.example",
    "null",
    "http://localhost:8080.evil.example",
    "http://localhost:9999",
    "https://localhost:8080",
]
REFUSED = {"error": "Cross-site request refused: the Origin header does not match this server"}


@pytest.fixture
async def browser(app: FastAPI) -> AsyncIterator[Client]:
    """A client that sends only what a test gives it: no cookie jar carried over."""
    async with Client.for_app(app) as client:
        yield client


def cookie(token: str) -> dict[str, str]:
    return {"Cookie": f"instapod_session={token}"}


async def test_the_cookie_alone_authenticates_a_read(browser: Client, factory: Factory) -> None:
    ann = await factory.user()

    response = await browser.get("/api/auth/user", headers=cookie(ann.token))

    assert response.status_code == 200
    assert response.json()["id"] == ann.id


async def test_a_cookie_post_without_origin_is_refused(browser: Client, factory: Factory) -> None:
    ann = await factory.user()

    response = await browser.post("/api/auth/logout", headers=cookie(ann.token))

    assert response.status_code == 403
    assert response.json() == REFUSED
    assert (await browser.get("/api/auth/user", headers=cookie(ann.token))).status_code == 200


async def test_a_cookie_post_from_another_origin_is_refused(
    browser: Client, factory: Factory
) -> None:
    ann = await factory.user()

    for origin in FOREIGN_ORIGINS:
        headers = {**cookie(ann.token), "Origin": origin}
        response = await browser.post("/api/auth/logout", headers=headers)
        assert response.status_code == 403, origin
        assert response.json() == REFUSED, origin
    referer = {**cookie(ann.token), "Referer": "http://evil.example/page"}
    assert (await browser.post("/api/auth/logout", headers=referer)).status_code == 403

    assert (await browser.get("/api/auth/user", headers=cookie(ann.token))).status_code == 200


@pytest.mark.parametrize(
    "proof",
    [{"Origin": ORIGIN}, {"Referer": f"{ORIGIN}/dashboard/settings"}],
    ids=["origin", "referer"],
)
async def test_a_cookie_post_from_this_server_is_accepted(
    browser: Client, factory: Factory, proof: dict[str, str]
) -> None:
    ann = await factory.user()

    response = await browser.post("/api/auth/logout", headers={**cookie(ann.token), **proof})

    assert response.status_code == 200
    assert response.json() == {"status": "logged_out"}
    assert int(session_cookie(response)["max-age"]) == 0
    assert (await browser.get("/api/auth/user", headers=cookie(ann.token))).status_code == 401


async def test_a_bearer_post_needs_no_origin(client: Client, factory: Factory) -> None:
    ann = await factory.user()
    second = (await login(client, ann.email, ann.password)).json()["token"]
    client.cookies.clear()

    without_origin = await client.as_user(ann.token).post("/api/auth/logout")
    foreign_origin = await client.as_user(second).post(
        "/api/auth/logout", headers={"Origin": "http://evil.example"}
    )

    assert without_origin.status_code == 200
    assert foreign_origin.status_code == 200  # another site cannot attach a bearer token
