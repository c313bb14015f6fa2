"""Rate limits per client IP on login, register and forgot-password, in memory or in Redis."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from itertools import count

import httpx
import pytest
import redis.asyncio as redis
from fastapi import FastAPI

from instapods.config import Settings
from tests.auth.support import login, register, with_changes
from tests.fixtures.factories import Factory, running_app
from tests.fixtures.http import Client

REDIS_URL = os.environ.get("INSTAPODS_TEST_REDIS", "redis://127.0.0.1:6379/0")

_serial = count(1)
Call = Callable[[Client], Awaitable[httpx.Response]]


async def forgot(client: Client, **headers: str) -> httpx.Response:
    """The cheapest limited call: an unknown address, so no hashing and no mail."""
    return await client.post(
        "/api/auth/forgot-password", json={"email": "nobody@example.com"}, headers=headers
    )


async def bad_login(client: Client) -> httpx.Response:
    return await login(client, "nobody@example.com", "not the password")


async def new_account(client: Client) -> httpx.Response:
    return await register(client, f"user{next(_serial)}@example.com")


def assert_refused(response: httpx.Response, limit: int) -> None:
    assert response.status_code == 429
    assert set(response.json()) == {"error"}
    assert response.headers["X-RateLimit-Limit"] == str(limit)
    assert response.headers["X-RateLimit-Remaining"] == "0"
    retry_after = response.headers["Retry-After"]
    assert retry_after.isdigit(), retry_after
    assert 0 < int(retry_after) <= 60


@pytest.mark.parametrize(
    ("call", "limit", "status"),
    [(new_account, 3, 201), (forgot, 3, 200)],
    ids=["register", "forgot-password"],
)
async def test_one_ip_gets_the_documented_number_of_tries_per_minute(
    client: Client, call: Call, limit: int, status: int
) -> None:
    for remaining in reversed(range(limit)):
        response = await call(client)
        assert response.status_code == status
        assert response.headers["X-RateLimit-Limit"] == str(limit)
        assert response.headers["X-RateLimit-Remaining"] == str(remaining)

    assert_refused(await call(client), limit)


async def test_successful_logins_count_down_and_other_ips_are_not_limited(
    client: Client, app: FastAPI, factory: Factory
) -> None:
    ann = await factory.user()
    remaining = []
    for _ in range(5):
        response = await login(client, ann.email, ann.password)
        assert response.status_code == 200
        remaining.append(response.headers["X-RateLimit-Remaining"])
    refused = await login(client, ann.email, ann.password)

    async with Client.for_app(app, client_ip="10.9.8.7") as elsewhere:
        other_ip = await login(elsewhere, ann.email, ann.password)

    assert remaining == ["4", "3", "2", "1", "0"]
    assert_refused(refused, 5)
    assert other_ip.status_code == 200
    assert other_ip.headers["X-RateLimit-Remaining"] == "4"


async def test_limits_are_counted_per_endpoint_and_errors_carry_the_headers(
    client: Client,
) -> None:
    for _ in range(3):
        await forgot(client)

    assert (await forgot(client)).status_code == 429
    failed_login = await bad_login(client)
    assert failed_login.status_code == 401
    assert failed_login.headers["X-RateLimit-Limit"] == "5"
    assert failed_login.headers["X-RateLimit-Remaining"] == "4"


async def test_forwarded_for_is_ignored_from_an_untrusted_peer(client: Client) -> None:
    for n in range(3):
        assert (await forgot(client, **{"X-Forwarded-For": f"203.0.113.{n}"})).status_code == 200

    assert_refused(await forgot(client, **{"X-Forwarded-For": "203.0.113.99"}), 3)


@pytest.fixture
async def behind_proxy(settings: Settings) -> AsyncIterator[Client]:
    """A client of an app that trusts 127.0.0.1 (the client's address) as its proxy."""
    trusting = with_changes(settings, trusted_proxies=["127.0.0.1/32"])
    async with running_app(trusting) as app, Client.for_app(app) as client:
        yield client


async def test_forwarded_for_names_the_client_behind_a_trusted_proxy(
    behind_proxy: Client,
) -> None:
    for _ in range(3):
        assert (await forgot(behind_proxy, **{"X-Forwarded-For": "203.0.113.7"})).status_code == 200
    refused = await forgot(behind_proxy, **{"X-Forwarded-For": "203.0.113.7"})
    spoofed_chain = await forgot(behind_proxy, **{"X-Forwarded-For": "198.51.100.1, 203.0.113.7"})
    another_client = await forgot(behind_proxy, **{"X-Forwarded-For": "203.0.113.8"})
    the_proxy_itself = await forgot(behind_proxy)

    assert_refused(refused, 3)
    assert spoofed_chain.status_code == 429  # only the hop our proxy added counts
    assert another_client.status_code == 200
    assert the_proxy_itself.status_code == 200


async def test_a_forwarded_for_line_of_the_client_does_not_hide_the_proxys_line(
    behind_proxy: Client,
) -> None:
    """A proxy may add its own header line rather than append to the client's (HAProxy does)."""
    for n in range(4):
        response = await behind_proxy.post(
            "/api/auth/forgot-password",
            json={"email": "nobody@example.com"},
            headers=[("X-Forwarded-For", f"198.51.100.{n}"), ("X-Forwarded-For", "203.0.113.7")],
        )

    assert_refused(response, 3)


@pytest.fixture
async def redis_settings(settings: Settings) -> AsyncIterator[Settings]:
    """Settings storing limits in the local Redis under a prefix of this test's own."""
    prefix = f"instapods-test-{uuid.uuid4().hex}"
    connection = redis.from_url(REDIS_URL)
    try:
        await connection.ping()
    except (redis.ConnectionError, OSError) as exc:
        await connection.aclose()
        if os.environ.get("CI"):
            raise
        pytest.skip(f"Redis is not reachable at {REDIS_URL}: {exc}")
    try:
        yield with_changes(settings, redis_url=REDIS_URL, redis_prefix=prefix)
    finally:
        async for key in connection.scan_iter(match=f"*{prefix}*"):
            await connection.delete(key)
        await connection.aclose()


async def test_two_instances_sharing_redis_share_the_limit(redis_settings: Settings) -> None:
    async with (
        running_app(redis_settings) as app_a,
        running_app(redis_settings) as app_b,
        Client.for_app(app_a) as a,
        Client.for_app(app_b) as b,
        Client.for_app(app_b, client_ip="10.9.8.7") as elsewhere,
    ):
        for expected in ("2", "1", "0"):
            response = await forgot(a)
            assert response.headers["X-RateLimit-Remaining"] == expected
        on_b = await forgot(b)
        elsewhere_on_b = await forgot(elsewhere)

    assert_refused(on_b, 3)
    assert elsewhere_on_b.status_code == 200


async def test_instances_with_different_prefixes_do_not_share(redis_settings: Settings) -> None:
    other = with_changes(redis_settings, redis_prefix=f"{redis_settings.redis_prefix}-other")
    async with (
        running_app(redis_settings) as app_a,
        running_app(other) as app_b,
        Client.for_app(app_a) as a,
        Client.for_app(app_b) as b,
    ):
        for _ in range(3):
            await forgot(a)
        on_a = await forgot(a)
        on_b = await forgot(b)

    assert on_a.status_code == 429
    assert on_b.status_code == 200


async def test_a_validation_error_carries_the_counters_too(client: Client) -> None:
    response = await client.post("/api/auth/forgot-password", json={"email": "not an email"})
    assert response.status_code == 400
    assert response.headers["X-RateLimit-Limit"] == "3"
    assert response.headers["X-RateLimit-Remaining"] == "2"


async def test_ipv6_clients_are_limited_per_64_block(app: FastAPI) -> None:
    """One host owns a /64: rotating addresses inside it must not buy more tries."""
    for host in range(1, 4):
        async with Client.for_app(app, client_ip=f"2001:db8:1:2::{host}") as rotating:
            assert (await forgot(rotating)).status_code == 200
    async with Client.for_app(app, client_ip="2001:db8:1:2::ffff") as rotating:
        assert_refused(await forgot(rotating), 3)
    async with Client.for_app(app, client_ip="2001:db8:1:3::1") as neighbour:
        assert (await forgot(neighbour)).status_code == 200


async def test_an_unreachable_redis_falls_back_to_limits_in_memory(settings: Settings) -> None:
    """Redis down must neither fail every login nor lift the limits."""
    down = with_changes(settings, redis_url="redis://127.0.0.1:1/0")
    async with running_app(down) as app, Client.for_app(app) as client:
        for _ in range(3):
            assert (await forgot(client)).status_code == 200
        assert_refused(await forgot(client), 3)
