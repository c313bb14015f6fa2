"""The edge's routes: the state we want, kept here and pushed to Caddy one change at a time."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from instapods.edge.admin import CaddyAdmin
from instapods.edge.routes import (
    PODS_ID,
    EdgeConfig,
    PodRoute,
    build_config,
    pod_route,
    pod_route_id,
)


class Edge:
    """Routes for the control plane and every pod, applied to Caddy through its admin API.

    The state lives here first: changes made before Caddy is attached (while the server starts)
    are kept and loaded with everything else by `attach`. Once attached, `set_pod` and
    `remove_pod` send one pod's route (by its `@id`) and nothing else. A change that Caddy refuses
    raises `EdgeError`; the state keeps the change, so the next `sync` or `attach` applies it.

    Caddy still applies each change as a graceful reload of its whole configuration: other
    routes' objects are untouched, but a connection that Caddy's outgoing server accepted in the
    instant of the switch can be closed unanswered. So changes that change nothing are skipped.
    """

    def __init__(self, config: EdgeConfig, admin: CaddyAdmin) -> None:
        self.config = config
        self.admin = admin
        self._pods: dict[str, PodRoute] = {}  # what we want
        self._applied: dict[str, PodRoute] = {}  # what Caddy has, as far as we know
        self._lock = asyncio.Lock()
        self._attached = False

    @property
    def pods(self) -> list[PodRoute]:
        return [self._pods[name] for name in sorted(self._pods)]

    async def attach(self) -> None:
        """Load the whole configuration into Caddy and apply every later change to it."""
        async with self._lock:
            await self._load()
            self._attached = True

    def detach(self) -> None:
        """Stop applying changes (Caddy is stopping); the state keeps following them."""
        self._attached = False
        self._applied = {}

    async def sync(self, pods: Iterable[PodRoute]) -> None:
        """Replace every pod route at once (at start, from the database)."""
        async with self._lock:
            self._pods = {pod.name: pod for pod in pods}
            if self._attached:
                await self._load()

    async def set_pod(self, name: str, upstream: str | None, state: str) -> None:
        """Route `NAME.BASE_DOMAIN` to `upstream` ("10.250.0.6:3000") when running, else 503."""
        pod = PodRoute(name, upstream, state)
        async with self._lock:
            self._pods[name] = pod
            if not self._attached or self._applied.get(name) == pod:
                return  # each change reloads Caddy's configuration: make none in vain
            self._applied.pop(name, None)
            route = pod_route(self.config, pod)
            # Replace by `@id` when Caddy has the route (whatever an earlier failed push
            # left behind), append it otherwise: never two routes with one `@id`.
            if not await self.admin.replace(pod_route_id(name), route):
                await self.admin.append(PODS_ID, "routes", route)
            self._applied[name] = pod

    async def remove_pod(self, name: str) -> None:
        """Forget the pod: its host answers with the unknown-host 404 page."""
        route_id = pod_route_id(name)
        async with self._lock:
            self._pods.pop(name, None)
            if self._attached:
                self._applied.pop(name, None)
                await self.admin.delete(route_id)

    async def _load(self) -> None:
        self._applied = {}
        await self.admin.load(build_config(self.config, self._pods.values()))
        self._applied = dict(self._pods)
