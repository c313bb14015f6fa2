"""Caddy's JSON configuration, built from our state: pure functions, no I/O.

One HTTP server listens on the public port. Its routes, in order:

1. the control plane (`@id` instapods-control): its hosts, proxied to the API's Unix socket;
2. the pods (`@id` instapods-pods), a subroute holding one route per pod, `@id`
   instapods-pod-NAME, matched by `NAME.BASE_DOMAIN`; replacing that one object changes that
   pod alone. A pod that is not running answers 503 itself; a running pod is proxied to its
   upstream, and the subroute's own error handler answers 503 when the upstream fails;
3. everything else: the 404 page.

The admin endpoint is part of every configuration we load (a `/load` without it would move
the admin API back to TCP localhost:2019): a Unix socket with mode 0600, never persisted.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from instapods.edge import pages

SERVER = "instapods"
CONTROL_ID = "instapods-control"
PODS_ID = "instapods-pods"
POD_ID_PREFIX = "instapods-pod-"
RUNNING = "running"

_POD_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")  # one DNS label
_STATE = re.compile(r"^[a-z][a-z_-]{0,31}$")
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_HOST_NAME = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})*$")

Config = dict[str, Any]


def _valid_host(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return bool(_HOST_NAME.match(host))
    return True


def _valid_upstream(upstream: str) -> bool:
    """`host:port` or `[v6]:port`: nothing Caddy would read as a network, path or placeholder."""
    host, sep, port = upstream.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        return False
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        return ":" in host and _valid_host(host)
    return ":" not in host and _valid_host(host)


@dataclass(frozen=True)
class PodRoute:
    """Where one pod's host goes: its upstream when it runs, else a 503 page naming its state."""

    name: str
    upstream: str | None
    state: str

    def __post_init__(self) -> None:
        check_pod_name(self.name)
        if not _STATE.match(self.state):
            raise ValueError(f"invalid pod state: {self.state!r}")
        if self.upstream is not None and not _valid_upstream(self.upstream):
            raise ValueError(f"invalid upstream (want host:port): {self.upstream!r}")

    @property
    def serving(self) -> bool:
        return self.state == RUNNING and self.upstream is not None


def check_pod_name(name: str) -> None:
    if not _POD_NAME.match(name):
        raise ValueError(f"invalid pod name: {name!r}")


@dataclass(frozen=True)
class EdgeConfig:
    """What the edge needs to know about this installation (built from the settings)."""

    listen: str  # host:port of the one public listener
    admin_socket: Path
    api_socket: Path
    control_hosts: tuple[str, ...]
    base_domain: str
    trusted_proxies: tuple[str, ...] = ()
    grace_period: str = "2s"

    def __post_init__(self) -> None:
        for host in (*self.control_hosts, self.base_domain):
            if not _valid_host(host):
                raise ValueError(f"invalid host name: {host!r}")

    def pod_host(self, name: str) -> str:
        return f"{name}.{self.base_domain}"


def listen_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def pod_route_id(name: str) -> str:
    check_pod_name(name)
    return f"{POD_ID_PREFIX}{name}"


def admin_config(edge: EdgeConfig) -> Config:
    """The admin endpoint alone: what Caddy starts with, before the first `/load`."""
    return {
        "admin": {
            "listen": f"unix/{edge.admin_socket}|0600",
            "config": {"persist": False},
        }
    }


def build_config(edge: EdgeConfig, pods: Iterable[PodRoute]) -> Config:
    """The whole configuration for this state of the edge."""
    pod_routes = {"@id": PODS_ID, "handler": "subroute", "routes": _pod_routes(edge, pods)}
    server: Config = {
        "listen": [edge.listen],
        "automatic_https": {"disable": True},
        "routes": [
            control_route(edge),
            {"handle": [pod_routes]},
            {"handle": [_static(404, pages.unknown_host())]},
        ],
    }
    if edge.trusted_proxies:
        # Only then may Caddy keep a client's X-Forwarded-For (and append to it); otherwise it
        # replaces the header with the address it sees, so a client cannot choose its own.
        server["trusted_proxies"] = {"source": "static", "ranges": list(edge.trusted_proxies)}
    return {
        **admin_config(edge),
        "apps": {"http": {"grace_period": edge.grace_period, "servers": {SERVER: server}}},
    }


def control_route(edge: EdgeConfig) -> Config:
    proxy = {"handler": "reverse_proxy", "upstreams": [{"dial": f"unix/{edge.api_socket}"}]}
    return {
        "@id": CONTROL_ID,
        "match": [{"host": list(edge.control_hosts)}],
        "handle": [_guarded(proxy, _static(502, pages.control_plane_down()))],
        "terminal": True,
    }


def pod_route(edge: EdgeConfig, pod: PodRoute) -> Config:
    if pod.serving:
        proxy = {"handler": "reverse_proxy", "upstreams": [{"dial": pod.upstream}]}
        handler = _guarded(proxy, _static(503, pages.pod_not_answering(pod.name)))
    else:
        handler = _static(503, pages.pod_unavailable(pod.name, pod.state))
    return {
        "@id": pod_route_id(pod.name),
        "match": [{"host": [edge.pod_host(pod.name)]}],
        "handle": [handler],
        "terminal": True,
    }


def _pod_routes(edge: EdgeConfig, pods: Iterable[PodRoute]) -> list[Config]:
    by_name = {pod.name: pod for pod in pods}
    return [pod_route(edge, by_name[name]) for name in sorted(by_name)]


def _guarded(handler: Config, on_error: Config) -> Config:
    """`handler` in a subroute whose own error routes answer with `on_error` (a failed dial)."""
    return {
        "handler": "subroute",
        "routes": [{"handle": [handler]}],
        "errors": {"routes": [{"handle": [on_error]}]},
    }


def _static(status: int, html: str) -> Config:
    return {
        "handler": "static_response",
        "status_code": status,
        "headers": {
            "Content-Type": ["text/html; charset=utf-8"],
            "Cache-Control": ["no-store"],
        },
        "body": html,
    }
