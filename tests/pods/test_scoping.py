"""Who may call which pods route: every route, as an outsider and as each role of the team.

The table below is the permission contract of the pods API. A route under /api/pods without a
row fails `test_every_pods_route_is_in_the_table`, so a new route (files, ssh, domains,
services…) cannot ship before someone decides who may call it.

An outsider (a signed-in user of another team) gets 404 on every route of the team's pod, with
the very answer a pod that does not exist gives. Viewers read; members, admins and owners also
change. A request that fails changes nothing: the team's pods, their events and the job queue
are compared before and after. One pod, provisioned once, serves every case (deletes use
throwaway pods that are never provisioned), so the whole walk costs a single sandbox.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from httpx import Response
from sqlalchemy import func, select

from instapods.app import create_app
from instapods.config import Settings
from instapods.models import Job, Pod, PodEvent, Role
from tests.fixtures.errors import answered_as_missing, error_of
from tests.fixtures.factories import Factory, UserHandle
from tests.fixtures.http import Client
from tests.fixtures.pods import running_worker, wait_for_status
from tests.pods.support import Body, Rows, create, platform_of

Actor = Literal["outsider", "owner", "admin", "member", "viewer"]
ACTORS: tuple[Actor, ...] = ("outsider", "owner", "admin", "member", "viewer")
Target = Literal["shared", "throwaway"]

PODS = "/api/pods"
POD = "/api/pods/{name}"
SHARED = "shared"
MISSING = "no-such-pod"


@dataclass(frozen=True)
class Case:
    """One request and the status each caller gets: outsider, owner, admin, member, viewer.

    `{name}` is the team's running pod (`shared`), or a throwaway pod for requests that would
    end it; `{actor}` in a body is the caller's role, so each caller's new pod has its own name.
    """

    method: str
    route: str
    what: str
    expect: tuple[int, int, int, int, int]
    body: Body | None = None
    target: Target = "shared"

    def expected(self, actor: Actor) -> int:
        return self.expect[ACTORS.index(actor)]


#      outsider  owner  admin  member  viewer
READ = (404, 200, 200, 200, 200)
MANAGE = (404, 200, 200, 200, 403)

CASES: tuple[Case, ...] = (
    Case("GET", PODS, "list my team's pods", (200,) * 5),
    Case("POST", PODS, "create a pod in my team", (202, 202, 202, 202, 403),
         body={"name": "new-{actor}", "preset": "python"}),
    Case("GET", POD, "see the pod", READ),
    Case("POST", f"{POD}/stop", "stop it", MANAGE),
    Case("POST", f"{POD}/start", "start it", MANAGE),
    Case("POST", f"{POD}/restart", "restart it", MANAGE),
    Case("POST", f"{POD}/reload", "reload it", MANAGE),
    Case("POST", f"{POD}/resize", "resize it", MANAGE, body={"plan_slug": "launch"}),
    Case("POST", f"{POD}/clone", "clone it", (404, 202, 202, 202, 403),
         body={"name": "clone-{actor}"}),
    Case("GET", f"{POD}/preset", "see its preset", READ),
    Case("GET", f"{POD}/disk-usage", "see its disk usage", READ),
    Case("POST", f"{POD}/exec", "run a command in it", MANAGE, body={"command": "true"}),
    Case("GET", f"{POD}/env", "read its env vars", READ),
    Case("PUT", f"{POD}/env", "set its env vars", MANAGE, body={"env_vars": {"BY": "{actor}"}}),
    Case("GET", f"{POD}/events", "read its events", READ),
    Case("GET", f"{POD}/logs", "read its logs", READ),
    Case("DELETE", POD, "delete it", MANAGE, target="throwaway"),
)  # fmt: skip


def declared_routes(app: FastAPI) -> set[tuple[str, str]]:
    """(method, path) of every route under /api/pods, from the routing tree and from the
    OpenAPI document (so neither can go quiet alone)."""
    found: set[tuple[str, str]] = set()
    for context in iter_route_contexts(app.routes):
        path = context.path or ""
        if path.startswith(PODS):
            found.update((m, path) for m in (context.methods or {"ANY"}) if m != "HEAD")
    for path, operations in app.openapi()["paths"].items():
        if path.startswith(PODS):
            found.update((m.upper(), path) for m in operations)
    return found


def test_every_pods_route_is_in_the_table(tmp_path: Path) -> None:
    """Files routes have their own table, in tests/files/test_scoping.py."""
    routes = {
        (method, path)
        for method, path in declared_routes(create_app(Settings(data_dir=tmp_path / "data")))
        if not path.startswith((f"{POD}/files", f"{POD}/folders"))
    }
    assert ("GET", PODS) in routes  # the enumeration itself works
    table = {(case.method, case.route) for case in CASES}
    assert routes - table == set(), "routes with no row in the access table"
    assert table - routes == set(), "rows for routes that no longer exist"


def fill(value: Any, values: dict[str, str]) -> Any:
    if isinstance(value, str):
        return value.format(**values)
    if isinstance(value, dict):
        return {key: fill(item, values) for key, item in value.items()}
    return value


async def send(client: Client, case: Case, values: dict[str, str]) -> Response:
    return await client.request(
        case.method, case.route.format(**values), json=fill(case.body, values)
    )


@dataclass
class World:
    """The five callers, their team with its one running pod, and the throwaway pods."""

    app: FastAPI
    clients: dict[Actor, Client]
    team_id: str
    throwaways: list[str] = field(default_factory=list)

    async def throwaway(self) -> str:
        """A pod of the team for a request that ends it (reused while requests fail)."""
        if not self.throwaways:
            name = f"throwaway-{await self.pod_count()}"
            await create(self.clients["owner"], name)
            self.throwaways.append(name)
        return self.throwaways[-1]

    async def pod_count(self) -> int:
        async with platform_of(self.app).sessions() as session:
            return int(await session.scalar(select(func.count()).select_from(Pod)) or 0)

    async def state(self) -> tuple[object, ...]:
        """What a failed request must leave as it was: the team's pods, events and jobs."""
        async with platform_of(self.app).sessions() as session:
            pods = await session.scalars(select(Pod).where(Pod.team_id == self.team_id))
            events = await session.scalar(
                select(func.count()).where(PodEvent.team_id == self.team_id)
            )
            jobs = await session.scalar(select(func.count()).select_from(Job))
            return (
                sorted(
                    (p.name, p.status, p.plan_slug, p.env_sealed, p.deleted_at, p.updated_at)
                    for p in pods
                ),
                events,
                jobs,
            )


async def world_of(app: FastAPI, client: Client, factory: Factory) -> World:
    users: dict[Actor, UserHandle] = {actor: await factory.user() for actor in ACTORS}
    roles = {Role.ADMIN: users["admin"], Role.MEMBER: users["member"], Role.VIEWER: users["viewer"]}
    team_id = await factory.team(users["owner"], members=roles)
    clients = {actor: client.as_user(user.token) for actor, user in users.items()}
    for actor in ("owner", "admin", "member", "viewer"):
        switched = await clients[actor].post("/api/teams/switch", json={"team_id": team_id})
        assert switched.status_code == 200, switched.text
    async with running_worker(app):  # only the shared pod is provisioned
        await create(clients["owner"], SHARED)
        pod = await wait_for_status(clients["owner"], SHARED, {"running", "error"})
        assert pod["status"] == "running", pod
    return World(app, clients, team_id)


async def run(world: World, case: Case, actor: Actor) -> list[str]:
    """Make the request as `actor`; return what went against the table."""
    name = SHARED if case.target == "shared" else await world.throwaway()
    values = {"name": name, "actor": actor}
    caller = world.clients[actor]
    before = await world.state()
    response = await send(caller, case, values)
    label = f"{case.method} {case.route} ({case.what}) as {actor}"
    if response.status_code != case.expected(actor):
        return [f"{label}: expected {case.expected(actor)}, got {response.status_code} "
                f"{response.text}"]  # fmt: skip
    if response.status_code < 400:
        if case.method == "DELETE":
            world.throwaways.remove(name)
        if case.route == PODS and case.method == "GET":
            names = [pod["name"] for pod in response.json()["pods"]]
            if (SHARED in names) != (actor != "outsider"):
                return [f"{label}: the team's pods are {'not ' * (actor != 'outsider')}listed"]
        return []
    error_of(response.json())
    problems = []
    if await world.state() != before:
        problems.append(f"{label}: failed with {response.status_code} but changed something")
    if actor == "outsider":
        missing = await send(caller, case, {**values, "name": MISSING})
        problems += answered_as_missing(label, response, missing)
    return problems


async def test_access_matrix(app: FastAPI, client: Client, factory: Factory) -> None:
    world = await world_of(app, client, factory)
    problems: list[str] = []
    for case in CASES:
        for actor in ACTORS:
            problems += await run(world, case, actor)
    assert problems == [], "\n" + "\n".join(problems)
    # What the allowed callers did really happened, to the team's pod.
    shared = await world.clients["viewer"].get(f"/api/pods/{SHARED}")
    assert shared.json()["status"] == "running"
    env = await world.clients["viewer"].get(f"/api/pods/{SHARED}/env")
    assert env.json() == {"env_vars": {"BY": "member"}}
    listed = (await world.clients["viewer"].get(PODS)).json()
    names = {pod["name"] for pod in listed["pods"]}
    assert {"new-owner", "new-admin", "new-member", "clone-member"} <= names
    assert "new-outsider" not in names
    assert "new-viewer" not in names


async def test_every_route_needs_credentials(
    app: FastAPI, client: Client, factory: Factory
) -> None:
    owner = await factory.user()
    api = client.as_user(owner.token)
    await create(api, SHARED)
    rows = Rows(app)
    before = await rows.counts()
    wrong: list[str] = []
    for token in (None, "ipt_not-a-real-token"):
        anonymous = client if token is None else client.as_user(token)
        for case in CASES:
            response = await send(anonymous, case, {"name": SHARED, "actor": "anonymous"})
            if response.status_code != 401:
                wrong.append(f"{case.method} {case.route} ({token}): {response.status_code}")
            else:
                error_of(response.json())
    assert wrong == []
    assert await rows.counts() == before


async def test_a_team_with_pods_cannot_be_deleted(client: Client, factory: Factory) -> None:
    owner = await factory.user()
    team_id = await factory.team(owner, name="Doomed")
    api = client.as_user(owner.token)
    assert (await api.post("/api/teams/switch", json={"team_id": team_id})).status_code == 200
    await create(api, "keeper")

    refused = await api.delete(f"/api/teams/{team_id}")
    assert refused.status_code == 409, refused.text
    assert "pod" in error_of(refused.json())
    assert (await api.get(f"/api/teams/{team_id}")).status_code == 200
    assert (await api.get("/api/pods/keeper")).status_code == 200

    assert (await api.delete("/api/pods/keeper")).status_code == 200
    deleted = await api.delete(f"/api/teams/{team_id}")
    assert (deleted.status_code, deleted.json()) == (200, {"status": "deleted"})
    assert (await api.get(f"/api/teams/{team_id}")).status_code == 404


async def test_a_deleted_pods_name_stays_reserved_after_its_team_is_deleted(
    client: Client, factory: Factory
) -> None:
    owner, stranger = await factory.user(), await factory.user()
    team_id = await factory.team(owner, name="Short-lived")
    api = client.as_user(owner.token)
    assert (await api.post("/api/teams/switch", json={"team_id": team_id})).status_code == 200
    await create(api, "famous")
    assert (await api.delete("/api/pods/famous")).status_code == 200
    assert (await api.delete(f"/api/teams/{team_id}")).status_code == 200

    taken = await client.as_user(stranger.token).post(
        "/api/pods", json={"name": "famous", "preset": "python"}
    )
    assert taken.status_code == 409, taken.text
