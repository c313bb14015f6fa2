"""The configuration builder: pure functions from the edge's state to Caddy's JSON."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from instapods.config import Settings
from instapods.edge.paths import EdgePaths
from instapods.edge.routes import (
    CONTROL_ID,
    PODS_ID,
    EdgeConfig,
    PodRoute,
    admin_config,
    build_config,
    listen_address,
    pod_route,
    pod_route_id,
)
from instapods.edge.server import control_hosts, edge_config

EDGE = EdgeConfig(
    listen="127.0.0.1:8080",
    admin_socket=Path("/srv/data/run/caddy-admin.sock"),
    api_socket=Path("/srv/data/run/api.sock"),
    control_hosts=("localhost", "127.0.0.1", "pods.example.com"),
    base_domain="localhost",
)


def server_of(config: dict[str, Any]) -> dict[str, Any]:
    server: dict[str, Any] = config["apps"]["http"]["servers"]["instapods"]
    return server


def pod_routes(config: dict[str, Any]) -> list[dict[str, Any]]:
    handler = server_of(config)["routes"][1]["handle"][0]
    assert handler["@id"] == PODS_ID
    routes: list[dict[str, Any]] = handler["routes"]
    return routes


def static(handler: dict[str, Any]) -> tuple[int, str]:
    assert handler["handler"] == "static_response"
    assert handler["headers"]["Content-Type"] == ["text/html; charset=utf-8"]
    return handler["status_code"], handler["body"]


def test_the_admin_api_is_a_private_unix_socket_in_every_configuration() -> None:
    expected = {"listen": "unix//srv/data/run/caddy-admin.sock|0600", "config": {"persist": False}}
    assert admin_config(EDGE) == {"admin": expected}
    assert build_config(EDGE, [])["admin"] == expected


def test_one_plain_http_listener_without_automatic_https() -> None:
    server = server_of(build_config(EDGE, []))
    assert server["listen"] == ["127.0.0.1:8080"]
    assert server["automatic_https"] == {"disable": True}
    assert "trusted_proxies" not in server  # so Caddy overwrites a client's X-Forwarded-For


def test_the_control_plane_comes_first_and_goes_to_the_api_socket() -> None:
    control = server_of(build_config(EDGE, []))["routes"][0]
    assert control["@id"] == CONTROL_ID
    assert control["match"] == [{"host": ["localhost", "127.0.0.1", "pods.example.com"]}]
    assert control["terminal"] is True
    guarded = control["handle"][0]
    proxy = guarded["routes"][0]["handle"][0]
    assert proxy == {
        "handler": "reverse_proxy",
        "upstreams": [{"dial": "unix//srv/data/run/api.sock"}],
    }
    status, body = static(guarded["errors"]["routes"][0]["handle"][0])
    assert status == 502
    assert "instapods is not answering" in body


def test_an_unknown_host_ends_on_the_404_page() -> None:
    last = server_of(build_config(EDGE, []))["routes"][-1]
    assert "match" not in last
    status, body = static(last["handle"][0])
    assert status == 404
    assert "No pod or site is served at this address." in body


def test_a_running_pod_is_proxied_to_its_upstream_with_a_503_when_it_fails() -> None:
    route = pod_route(EDGE, PodRoute("my-app", "10.250.0.6:3000", "running"))
    assert route["@id"] == "instapods-pod-my-app"
    assert route["match"] == [{"host": ["my-app.localhost"]}]
    guarded = route["handle"][0]
    assert guarded["routes"][0]["handle"][0] == {
        "handler": "reverse_proxy",
        "upstreams": [{"dial": "10.250.0.6:3000"}],
    }
    status, body = static(guarded["errors"]["routes"][0]["handle"][0])
    assert status == 503
    assert "my-app is not answering" in body


@pytest.mark.parametrize(
    ("upstream", "state"),
    [(None, "stopped"), ("10.250.0.6:3000", "starting"), (None, "running"), (None, "failed")],
)
def test_a_pod_that_is_not_serving_answers_503_naming_it_and_its_state(
    upstream: str | None, state: str
) -> None:
    route = pod_route(EDGE, PodRoute("my-app", upstream, state))
    status, body = static(route["handle"][0])
    assert status == 503
    assert "<title>my-app is not running</title>" in body
    assert f"<strong>{state}</strong>" in body


def test_pod_routes_are_sorted_by_name_and_keep_one_route_per_pod() -> None:
    pods = [
        PodRoute("zeta", None, "stopped"),
        PodRoute("alpha", "127.0.0.1:3000", "running"),
        PodRoute("alpha", None, "stopped"),  # the last word wins
    ]
    routes = pod_routes(build_config(EDGE, pods))
    assert [r["@id"] for r in routes] == [pod_route_id("alpha"), pod_route_id("zeta")]
    assert routes[0]["handle"][0]["handler"] == "static_response"


def test_pods_live_under_the_base_domain() -> None:
    edge = EdgeConfig(**{**EDGE.__dict__, "base_domain": "apps.example.com"})
    route = pod_route(edge, PodRoute("blog", None, "stopped"))
    assert route["match"] == [{"host": ["blog.apps.example.com"]}]


def test_trusted_proxies_let_caddy_keep_their_forwarded_for() -> None:
    edge = EdgeConfig(**{**EDGE.__dict__, "trusted_proxies": ("10.0.0.0/8", "fd00::/8")})
    server = server_of(build_config(edge, []))
    assert server["trusted_proxies"] == {"source": "static", "ranges": ["10.0.0.0/8", "fd00::/8"]}


def bodies(value: object) -> list[str]:
    if isinstance(value, dict):
        own = [value["body"]] if isinstance(value.get("body"), str) else []
        return own + [body for item in value.values() for body in bodies(item)]
    if isinstance(value, list):
        return [body for item in value for body in bodies(item)]
    return []


def test_pages_carry_no_placeholder_braces() -> None:
    """Caddy expands `{…}` in a static body; our pages must not depend on that."""
    pods = [PodRoute("a", None, "stopped"), PodRoute("b", "127.0.0.1:1", "running")]
    found = bodies(build_config(EDGE, pods))
    assert len(found) == 4  # control plane down, a stopped, b not answering, unknown host
    for body in found:
        assert "{" not in body
        assert "}" not in body


@pytest.mark.parametrize(
    "name", ["", "-app", "app-", "App", "my_app", "a.b", "a" * 64, "x{y}", "a b", "../etc"]
)
def test_invalid_pod_names_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="invalid pod name"):
        PodRoute(name, None, "stopped")
    with pytest.raises(ValueError, match="invalid pod name"):
        pod_route_id(name)


@pytest.mark.parametrize(
    "upstream",
    [
        "10.250.0.6",
        "10.250.0.6:0",
        "10.250.0.6:70000",
        "unix//etc/passwd",
        "{env.HOME}:80",
        "http://10.0.0.1:80",
        "10.0.0.1:80/x",
        "::1:80",
        "[zz]:80",
        "",
    ],
)
def test_invalid_upstreams_are_refused(upstream: str) -> None:
    with pytest.raises(ValueError, match="invalid upstream"):
        PodRoute("app", upstream, "running")


@pytest.mark.parametrize("upstream", ["10.250.0.6:3000", "[fd00::6]:3000", "pod-app.internal:80"])
def test_valid_upstreams(upstream: str) -> None:
    assert PodRoute("app", upstream, "running").upstream == upstream


@pytest.mark.parametrize("state", ["", "Running", "run{ning}", "<b>", "x" * 40])
def test_invalid_states_are_refused(state: str) -> None:
    with pytest.raises(ValueError, match="invalid pod state"):
        PodRoute("app", None, state)


def test_names_are_escaped_in_pages() -> None:
    route = pod_route(EDGE, PodRoute("a-b", None, "stopped_by_admin"))
    _, body = static(route["handle"][0])
    assert "<strong>stopped by admin</strong>" in body


def test_listen_addresses() -> None:
    assert listen_address("127.0.0.1", 8080) == "127.0.0.1:8080"
    assert listen_address("::1", 8080) == "[::1]:8080"
    assert listen_address("0.0.0.0", 80) == "0.0.0.0:80"  # noqa: S104


def test_the_settings_give_the_control_plane_hosts_and_paths(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path,
        port=9000,
        host="0.0.0.0",  # noqa: S104
        public_url="https://Pods.Example.com",
        base_domain="Apps.Example.com",
        trusted_proxies="10.0.0.0/8",
    )
    paths = EdgePaths.in_data_dir(tmp_path)
    edge = edge_config(settings, paths)
    assert edge.listen == "0.0.0.0:9000"
    assert edge.control_hosts == ("localhost", "127.0.0.1", "pods.example.com")
    assert edge.base_domain == "apps.example.com"
    assert edge.trusted_proxies == ("10.0.0.0/8",)
    assert edge.admin_socket == tmp_path.resolve() / "run" / "caddy-admin.sock"
    assert edge.api_socket == tmp_path.resolve() / "run" / "api.sock"


def test_a_specific_bind_address_is_a_control_plane_host_too(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, port=9000, host="192.0.2.10")
    assert control_hosts(settings) == ("localhost", "127.0.0.1", "192.0.2.10")


def test_a_data_dir_caddy_would_misread_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="data dir"):
        EdgePaths.in_data_dir(tmp_path / "a|b")
    with pytest.raises(ValueError, match="data dir"):
        EdgePaths.in_data_dir(tmp_path / "{env.HOME}")
