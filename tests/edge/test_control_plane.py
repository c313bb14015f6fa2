"""The control plane behind the edge: the API on its private socket, Caddy in front of it."""

from __future__ import annotations

import stat

import httpx

from instapods.edge.server import EdgeServer
from tests.edge.conftest import Stack
from tests.edge.support import get


async def test_the_api_answers_through_the_edge_at_localhost_and_127_0_0_1(stack: Stack) -> None:
    port = stack.port
    async with httpx.AsyncClient(timeout=10) as client:
        by_name = await client.get(f"http://localhost:{port}/api/health")
        by_address = await client.get(f"http://127.0.0.1:{port}/api/health")

    for response in (by_name, by_address):
        assert response.status_code == 200
        assert response.json()["status"] == "ok"
        assert response.headers["x-request-id"].startswith("req_")


async def test_the_public_urls_host_reaches_the_control_plane(stack: Stack) -> None:
    settings = stack.settings.model_copy(update={"public_url": "https://pods.example.com"})
    await stack.edge.stop()
    stack.edge = EdgeServer(settings)
    await stack.edge.start()

    response = await get(stack.port, "pods.example.com", "/api/health")
    unknown = await get(stack.port, "other.example.com", "/api/health")

    assert response.status_code == 200
    assert unknown.status_code == 404


async def test_the_api_listens_only_on_its_private_socket(stack: Stack) -> None:
    socket_path = stack.api.paths.api_socket
    assert stat.S_IMODE(socket_path.stat().st_mode) == 0o600
    transport = httpx.AsyncHTTPTransport(uds=str(socket_path))
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
        assert (await client.get("/api/health")).status_code == 200


async def forgot(client: httpx.AsyncClient, port: int, **headers: str) -> httpx.Response:
    return await client.post(
        f"http://127.0.0.1:{port}/api/auth/forgot-password",
        json={"email": "nobody@example.com"},
        headers={"Host": f"localhost:{port}", **headers},
    )


async def test_rate_limits_count_the_real_client_behind_the_edge(stack: Stack) -> None:
    """Through Caddy the API sees no TCP peer; the address Caddy saw is the one that counts,
    and a client's own X-Forwarded-For changes nothing."""
    other_address = httpx.AsyncHTTPTransport(local_address="127.0.0.2")
    async with (
        httpx.AsyncClient(timeout=10) as client,
        httpx.AsyncClient(timeout=10, transport=other_address) as neighbour,
    ):
        spoofing = [
            await forgot(client, stack.port, **{"X-Forwarded-For": f"203.0.113.{n}"})
            for n in range(4)
        ]
        from_elsewhere = await forgot(neighbour, stack.port)

    assert [r.status_code for r in spoofing] == [200, 200, 200, 429]
    assert [r.headers["X-RateLimit-Remaining"] for r in spoofing] == ["2", "1", "0", "0"]
    assert from_elsewhere.status_code == 200
    assert from_elsewhere.headers["X-RateLimit-Remaining"] == "2"
