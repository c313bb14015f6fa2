"""Pod routes through a real Caddy: proxied, 503 pages, 404, one pod changed at a time."""

from __future__ import annotations

import socket
import stat
from ipaddress import ip_network
from types import SimpleNamespace
from typing import cast

import httpx
import pytest

from instapods.config import Settings
from instapods.edge import EdgeError, PodRoute
from instapods.edge.process import pid_alive, read_pid
from instapods.edge.routes import pod_route_id
from instapods.edge.server import EdgeServer
from instapods.platform import Platform
from tests.edge.support import caddy_pids, free_port, get, listening_tcp_ports, upstream


def html_of(response: httpx.Response) -> str:
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["cache-control"] == "no-store"
    return response.text


async def test_an_unknown_host_gets_the_404_page(edge_server: EdgeServer) -> None:
    port = edge_server.edge.config.listen.rpartition(":")[2]
    for host in ("nope.localhost", "example.com", "localhost.localhost"):
        response = await get(int(port), host)
        assert response.status_code == 404
        assert "No pod or site is served at this address." in html_of(response)


async def test_a_running_pod_answers_with_its_upstream(
    edge_server: EdgeServer, settings: Settings
) -> None:
    async with upstream("hello from my-app") as address:
        await edge_server.edge.set_pod("my-app", address, "running")
        response = await get(settings.port, f"my-app.localhost:{settings.port}")
        also_upper = await get(settings.port, "MY-APP.localhost")

    assert response.status_code == 200
    assert response.text == "hello from my-app"
    assert also_upper.text == "hello from my-app"


async def test_a_pod_that_is_not_running_gets_a_503_page_naming_it(
    edge_server: EdgeServer, settings: Settings
) -> None:
    async with upstream("hello") as address:
        await edge_server.edge.set_pod("my-app", address, "running")
        assert (await get(settings.port, "my-app.localhost")).status_code == 200
        await edge_server.edge.set_pod("my-app", None, "stopped")
        stopped = await get(settings.port, "my-app.localhost")
        await edge_server.edge.set_pod("my-app", None, "starting")
        starting = await get(settings.port, "my-app.localhost")

    assert stopped.status_code == 503
    assert "my-app is not running" in html_of(stopped)
    assert "<strong>stopped</strong>" in stopped.text
    assert starting.status_code == 503
    assert "<strong>starting</strong>" in starting.text


async def test_a_running_pod_whose_upstream_refuses_gets_a_503_page(
    edge_server: EdgeServer, settings: Settings
) -> None:
    await edge_server.edge.set_pod("my-app", f"127.0.0.1:{free_port()}", "running")
    response = await get(settings.port, "my-app.localhost")

    assert response.status_code == 503
    assert "my-app is not answering" in html_of(response)


async def test_a_removed_pod_is_an_unknown_host(
    edge_server: EdgeServer, settings: Settings
) -> None:
    async with upstream("hello") as address:
        await edge_server.edge.set_pod("my-app", address, "running")
        assert (await get(settings.port, "my-app.localhost")).status_code == 200
        await edge_server.edge.remove_pod("my-app")
        await edge_server.edge.remove_pod("my-app")  # removing twice is fine
        response = await get(settings.port, "my-app.localhost")

    assert response.status_code == 404
    assert edge_server.edge.pods == []


async def test_changing_one_pod_leaves_the_others_alone(
    edge_server: EdgeServer, settings: Settings
) -> None:
    edge = edge_server.edge
    async with upstream("a") as address_a, upstream("b") as address_b:
        await edge.set_pod("app-a", address_a, "running")
        await edge.set_pod("app-b", address_b, "running")
        b_before = await edge.admin.get(f"id/{pod_route_id('app-b')}")

        answers_of_b, answers_of_a = [], []
        for state, address in [("stopped", None), ("starting", None), ("running", address_a)] * 3:
            await edge.set_pod("app-a", address, state)
            answers_of_a.append((await get(settings.port, "app-a.localhost")).status_code)
            response = await get(settings.port, "app-b.localhost")
            answers_of_b.append((response.status_code, response.text))
        b_after = await edge.admin.get(f"id/{pod_route_id('app-b')}")

    assert answers_of_a == [503, 503, 200] * 3
    assert set(answers_of_b) == {(200, "b")}
    assert b_after == b_before
    pods = await edge.admin.get("id/instapods-pods/routes")
    assert [route["@id"] for route in pods] == [pod_route_id("app-a"), pod_route_id("app-b")]


def reloads(server: EdgeServer) -> int:
    """How many times Caddy has switched configurations (it logs each one)."""
    return server.paths.log_file.read_text().count("servers shutting down")


async def test_setting_a_pod_to_what_it_is_reloads_nothing(edge_server: EdgeServer) -> None:
    await edge_server.edge.set_pod("app", None, "stopped")
    before = reloads(edge_server)

    for _ in range(3):
        await edge_server.edge.set_pod("app", None, "stopped")

    assert reloads(edge_server) == before
    await edge_server.edge.set_pod("app", None, "starting")
    assert reloads(edge_server) == before + 1


async def test_sync_replaces_every_pod_route(edge_server: EdgeServer, settings: Settings) -> None:
    edge = edge_server.edge
    await edge.set_pod("old", None, "stopped")
    async with upstream("new") as address:
        await edge.sync([PodRoute("new", address, "running"), PodRoute("other", None, "failed")])
        old, new, other = [
            await get(settings.port, f"{name}.localhost") for name in ("old", "new", "other")
        ]

    assert old.status_code == 404
    assert (new.status_code, new.text) == (200, "new")
    assert other.status_code == 503
    assert [pod.name for pod in edge.pods] == ["new", "other"]


async def test_routes_set_before_caddy_is_attached_are_loaded_with_it(settings: Settings) -> None:
    server = EdgeServer(settings)
    async with upstream("early") as address:
        await server.edge.set_pod("early", address, "running")  # the server is still starting
        await server.start()
        try:
            response = await get(settings.port, "early.localhost")
        finally:
            await server.stop()

    assert response.text == "early"


async def test_initial_routes_are_loaded_with_everything_else(settings: Settings) -> None:
    async with upstream("from the start") as address:

        async def routes() -> list[PodRoute]:
            return [PodRoute("early", address, "running")]

        server = EdgeServer(settings, initial_routes=routes)
        await server.start()
        try:
            response = await get(settings.port, "early.localhost")
        finally:
            await server.stop()

    assert response.text == "from the start"


async def test_the_edge_is_published_on_the_platform_while_it_runs(settings: Settings) -> None:
    holder = SimpleNamespace(edge=None)
    server = EdgeServer(settings, platform=lambda: cast(Platform, holder))
    await server.start()
    published = holder.edge
    await server.stop()

    assert published is server.edge
    assert holder.edge is None


async def test_a_bad_route_is_refused_before_it_reaches_caddy(edge_server: EdgeServer) -> None:
    with pytest.raises(ValueError, match="invalid upstream"):
        await edge_server.edge.set_pod("my-app", "unix//etc/passwd", "running")
    with pytest.raises(ValueError, match="invalid pod name"):
        await edge_server.edge.remove_pod("../x")
    assert edge_server.edge.pods == []


async def test_a_client_cannot_choose_its_forwarded_for(
    edge_server: EdgeServer, settings: Settings
) -> None:
    async with upstream("") as address:
        await edge_server.edge.set_pod("echo", address, "running")
        response = await get(
            settings.port, "echo.localhost", "/headers", {"X-Forwarded-For": "6.6.6.6"}
        )

    assert "X-Forwarded-For: 127.0.0.1\r\n" in response.text
    assert "6.6.6.6" not in response.text


async def test_a_trusted_proxy_keeps_its_forwarded_for(settings: Settings) -> None:
    trusting = settings.model_copy(update={"trusted_proxies": [ip_network("127.0.0.2/32")]})
    server = EdgeServer(trusting)
    await server.start()
    try:
        async with upstream("") as address:
            await server.edge.set_pod("echo", address, "running")
            transport = httpx.AsyncHTTPTransport(local_address="127.0.0.2")
            async with httpx.AsyncClient(transport=transport) as client:
                response = await client.get(
                    f"http://127.0.0.1:{settings.port}/headers",
                    headers={"Host": "echo.localhost", "X-Forwarded-For": "198.51.100.7"},
                )
    finally:
        await server.stop()

    assert "X-Forwarded-For: 198.51.100.7, 127.0.0.2\r\n" in response.text


async def test_the_admin_api_is_only_a_private_unix_socket(
    edge_server: EdgeServer, settings: Settings
) -> None:
    paths = edge_server.paths
    pid = read_pid(paths.pid_file)
    assert pid is not None

    assert stat.S_IMODE(paths.admin_socket.stat().st_mode) == 0o600
    assert stat.S_IMODE(paths.run_dir.stat().st_mode) == 0o700
    assert listening_tcp_ports(pid) == {settings.port}
    assert paths.log_file.is_file()


async def test_stopping_stops_caddy_by_its_pid_and_removes_the_socket(settings: Settings) -> None:
    server = EdgeServer(settings)
    await server.start()
    pid = read_pid(server.paths.pid_file)
    assert pid is not None
    assert pid_alive(pid)

    await server.stop()

    assert not pid_alive(pid)
    assert not server.paths.admin_socket.exists()
    assert not server.paths.pid_file.exists()
    with pytest.raises(httpx.ConnectError):
        await get(settings.port, "localhost")


async def test_a_second_edge_adopts_the_running_caddy(settings: Settings) -> None:
    first, second = EdgeServer(settings), EdgeServer(settings)
    await first.start()
    try:
        await second.start()
        assert second.process is not None
        assert second.process.adopted
        assert caddy_pids(second.paths.config_file) == [read_pid(second.paths.pid_file)]
        await second.stop()
        assert caddy_pids(second.paths.config_file) == []
    finally:
        await first.stop()


async def test_a_taken_port_fails_the_start_and_leaves_no_caddy(settings: Settings) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", settings.port))
        taken.listen()
        server = EdgeServer(settings)
        with pytest.raises(EdgeError, match="address already in use"):
            await server.start()
        await server.admin.aclose()

    assert caddy_pids(server.paths.config_file) == []
    assert not server.paths.pid_file.exists()
    assert not server.paths.admin_socket.exists()


async def test_the_control_plane_without_its_api_gets_a_502_page(
    edge_server: EdgeServer, settings: Settings
) -> None:
    response = await get(settings.port, f"localhost:{settings.port}", "/api/health")
    assert response.status_code == 502
    assert "instapods is not answering" in html_of(response)
