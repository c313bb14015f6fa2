"""The edge as a component of `instapods server`: Caddy started (or adopted) and configured."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from urllib.parse import urlsplit

from instapods.config import Settings
from instapods.edge.admin import CaddyAdmin
from instapods.edge.edge import Edge
from instapods.edge.paths import EdgePaths
from instapods.edge.process import CaddyProcess, find_caddy
from instapods.edge.routes import EdgeConfig, PodRoute, admin_config, listen_address
from instapods.platform import Platform

log = logging.getLogger("instapods.edge")

_WILDCARDS = {"", "0.0.0.0", "::"}  # noqa: S104 (names, not a bind)


def control_hosts(settings: Settings) -> tuple[str, ...]:
    """The hosts of the control plane: localhost, 127.0.0.1, the public URL's host, and the
    address we listen on when it is a specific one."""
    hosts = ["localhost", "127.0.0.1"]
    public = urlsplit(settings.resolved_public_url).hostname
    for host in (public, settings.host):
        if host and host.lower() not in _WILDCARDS:
            hosts.append(host.lower())
    return tuple(dict.fromkeys(hosts))


def edge_config(settings: Settings, paths: EdgePaths) -> EdgeConfig:
    return EdgeConfig(
        listen=listen_address(settings.host, settings.port),
        admin_socket=paths.admin_socket,
        api_socket=paths.api_socket,
        control_hosts=control_hosts(settings),
        base_domain=settings.base_domain.lower(),
        trusted_proxies=tuple(str(network) for network in settings.trusted_proxies),
    )


class EdgeServer:
    """Caddy on the public port, proxying to the API's socket and to each pod.

    `edge` is the routing API (`set_pod`, `remove_pod`, `sync`) the pods domain calls; with
    `platform` (the API's, once started) it is published as `platform.edge` while Caddy runs.
    `initial_routes` gives every pod's route at start, so that they are loaded together with
    the rest (an adopted Caddy keeps serving the pods without a gap).
    When Caddy dies on its own, `wait` returns and the whole server stops.
    """

    name = "edge"

    def __init__(
        self,
        settings: Settings,
        *,
        platform: Callable[[], Platform] | None = None,
        initial_routes: Callable[[], Awaitable[Iterable[PodRoute]]] | None = None,
    ) -> None:
        self.paths = EdgePaths.in_data_dir(settings.data_dir)
        self.admin = CaddyAdmin(self.paths.admin_socket)
        self.edge = Edge(edge_config(settings, self.paths), self.admin)
        self.binary = settings.caddy_bin
        self.platform = platform
        self.initial_routes = initial_routes
        self.process: CaddyProcess | None = None

    async def start(self) -> None:
        self.process = CaddyProcess(
            find_caddy(self.binary), self.paths, self.admin, admin_config(self.edge.config)
        )
        try:
            if self.initial_routes is not None:
                await self.edge.sync(await self.initial_routes())
            await self.process.start()
            await self.edge.attach()
        except BaseException:
            # One we started goes with us; an adopted one keeps serving its previous routes
            # (Caddy rolls a refused configuration back).
            if not self.process.adopted:
                await self.process.stop()
            raise
        if self.platform is not None:
            self.platform().edge = self.edge
        log.info("edge listening on http://%s", self.edge.config.listen)

    async def stop(self) -> None:
        if self.platform is not None:
            self.platform().edge = None
        self.edge.detach()
        if self.process is not None:
            await self.process.stop()
        await self.admin.aclose()

    async def wait(self) -> None:
        # An adopted Caddy is no child of ours, so there is nothing to wait on but its PID.
        while self.process is not None and self.process.running():  # noqa: ASYNC110
            await asyncio.sleep(0.5)
