"""Who may call which teams route: every route, as an outsider and as each role.

The table below is the permission contract of the teams API. Each row is one request (a route
with a body and a target) and the status expected for each caller. A route under /api/teams or
/api/invitations without a row fails `test_every_route_is_in_the_table`, so a new route cannot
ship before someone decides who may call it.

An outsider (a signed-in user with no relation to the team) gets 404 on every route of a team,
with the very answer a team that does not exist gives: nothing tells them the team is there.
A request that fails changes nothing: the team, its members, its invitations and the caller's
current team are compared before and after.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from httpx import Response

from instapods.app import create_app
from instapods.config import Settings
from instapods.models import Role
from tests.fixtures.errors import error_of
from tests.fixtures.factories import Factory, UserHandle
from tests.fixtures.http import Client
from tests.teams.conftest import Db, Outbox

Actor = Literal["outsider", "owner", "admin", "member", "viewer"]
ACTORS: tuple[Actor, ...] = ("outsider", "owner", "admin", "member", "viewer")
# Whose user id fills `{user_id}`: the caller, the team's (only) owner, or the colleague.
Target = Literal["self", "owner", "colleague"]
# Which invitation's token an accept request carries.
Invite = Literal["to-caller", "to-colleague"]

PREFIXES = ("/api/teams", "/api/invitations")
MISSING_TEAM = "team_" + "0" * 20
ACCEPT = "/api/invitations/accept"
TEAM = "/api/teams/{team_id}"
MEMBERS = "/api/teams/{team_id}/members"
MEMBER = "/api/teams/{team_id}/members/{user_id}"
INVITATIONS = "/api/teams/{team_id}/invitations"
INVITATION = "/api/teams/{team_id}/invitations/{invitation_id}"


@dataclass(frozen=True)
class Case:
    """One request and the status each caller gets: outsider, owner, admin, member, viewer.

    The team is always: the owner, an admin, a member, a viewer, and the colleague (a sixth
    user) with the role `colleague` (None: the colleague is not in the team).
    """

    method: str
    route: str
    what: str
    expect: tuple[int, int, int, int, int]
    body: dict[str, str] | None = None
    target: Target = "colleague"
    colleague: Role | None = Role.MEMBER
    invite: Invite | None = None

    def expected(self, actor: Actor) -> int:
        return self.expect[ACTORS.index(actor)]

    @property
    def about_a_team(self) -> bool:
        """Whether the request names the team (in its path or body)."""
        return "{team_id}" in self.route or "{team_id}" in str(self.body)


#      outsider  owner  admin  member  viewer
ALL_OK = (200, 200, 200, 200, 200)
READ = (404, 200, 200, 200, 200)
MANAGE = (404, 200, 200, 403, 403)
CREATE_MANAGE = (404, 201, 201, 403, 403)
OWNER_ONLY = (404, 200, 403, 403, 403)

CASES: tuple[Case, ...] = (
    Case("GET", "/api/teams", "list my teams", ALL_OK),
    Case("POST", "/api/teams", "create a team", (201,) * 5, body={"name": "Another"}),
    Case("POST", "/api/teams/switch", "switch to it", READ, body={"team_id": "{team_id}"}),
    Case("GET", TEAM, "see the team", READ),
    Case("PUT", TEAM, "rename it", MANAGE, body={"name": "Renamed"}),
    Case("DELETE", TEAM, "delete it", OWNER_ONLY),
    Case("GET", MEMBERS, "list its members", READ),
    Case(
        "POST",
        MEMBERS,
        "add a member",
        CREATE_MANAGE,
        body={"email": "{colleague_email}", "role": "member"},
        colleague=None,
    ),
    Case(
        "POST",
        MEMBERS,
        "add an admin",
        CREATE_MANAGE,
        body={"email": "{colleague_email}", "role": "admin"},
        colleague=None,
    ),
    Case(
        "POST",
        MEMBERS,
        "add an owner",
        (404, 201, 403, 403, 403),
        body={"email": "{colleague_email}", "role": "owner"},
        colleague=None,
    ),
    Case("PUT", MEMBER, "make a member viewer", MANAGE, body={"role": "viewer"}),
    Case("PUT", MEMBER, "make a member admin", MANAGE, body={"role": "admin"}),
    Case("PUT", MEMBER, "make a member owner", OWNER_ONLY, body={"role": "owner"}),
    Case(
        "PUT",
        MEMBER,
        "demote a second owner",
        OWNER_ONLY,
        body={"role": "admin"},
        colleague=Role.OWNER,
    ),
    Case(
        "PUT",
        MEMBER,
        "demote the only owner",
        (404, 409, 403, 403, 403),
        body={"role": "admin"},
        target="owner",
    ),
    Case(
        "PUT",
        MEMBER,
        "change my own role to viewer",
        (404, 409, 200, 403, 403),
        body={"role": "viewer"},
        target="self",
    ),
    Case("DELETE", MEMBER, "leave", (404, 409, 200, 200, 200), target="self"),
    Case("DELETE", MEMBER, "remove a member", MANAGE),
    Case("DELETE", MEMBER, "remove a second owner", OWNER_ONLY, colleague=Role.OWNER),
    Case("DELETE", MEMBER, "remove the only owner", (404, 409, 403, 403, 403), target="owner"),
    Case("GET", INVITATIONS, "list invitations", MANAGE),
    Case(
        "POST",
        INVITATIONS,
        "invite a member",
        CREATE_MANAGE,
        body={"email": "newcomer@example.com", "role": "member"},
    ),
    Case(
        "POST",
        INVITATIONS,
        "invite an owner",
        (404, 201, 403, 403, 403),
        body={"email": "newcomer@example.com", "role": "owner"},
    ),
    Case("DELETE", INVITATION, "revoke an invitation", MANAGE),
    Case(
        "POST",
        ACCEPT,
        "accept an invitation sent to me (to another team)",
        ALL_OK,
        body={"token": "{token}"},
        invite="to-caller",
    ),
    Case(
        "POST",
        ACCEPT,
        "accept an invitation sent to someone else",
        (403,) * 5,
        body={"token": "{token}"},
        colleague=None,
        invite="to-colleague",
    ),
    Case(
        "POST",
        ACCEPT,
        "accept with a made-up token",
        (400,) * 5,
        body={"token": "ipt_made-up"},
    ),
)


def declared_routes(app: FastAPI) -> set[tuple[str, str]]:
    """(method, path) of every route under the teams prefixes, however routers are nested.

    Two sources, so neither can go quiet alone: the routing tree (which also holds routes left
    out of the OpenAPI document) and the OpenAPI document.
    """
    found: set[tuple[str, str]] = set()
    for context in iter_route_contexts(app.routes):
        path = context.path or ""
        if path.startswith(PREFIXES):
            found.update((m, path) for m in (context.methods or {"ANY"}) if m != "HEAD")
    for path, operations in app.openapi()["paths"].items():
        if path.startswith(PREFIXES):
            found.update((m.upper(), path) for m in operations)
    return found


def test_every_route_is_in_the_table(tmp_path: Path) -> None:
    app = create_app(Settings(data_dir=tmp_path / "data"))
    routes = declared_routes(app)
    assert ("GET", "/api/teams") in routes  # the enumeration itself works
    table = {(case.method, case.route) for case in CASES}
    assert routes - table == set(), "routes with no row in the access table"
    assert table - routes == set(), "rows for routes that no longer exist"


@dataclass
class World:
    """The six users of a test, and the teams the cases run against."""

    client: Client
    factory: Factory
    db: Db
    outbox: Outbox
    users: dict[str, UserHandle]
    # A team per colleague role, reused until a request succeeds in changing something.
    pool: dict[Role | None, str] = field(default_factory=dict)

    async def team(self, colleague: Role | None) -> str:
        if colleague not in self.pool:
            u = self.users
            members = {Role.ADMIN: u["admin"], Role.MEMBER: u["member"], Role.VIEWER: u["viewer"]}
            team_id = await self.factory.team(u["owner"], members=members)
            if colleague is not None:
                await self.db.add_member(team_id, u["owner"], u["colleague"], colleague)
            self.pool[colleague] = team_id
        return self.pool[colleague]

    def spoil(self, team_id: str) -> None:
        self.pool = {role: t for role, t in self.pool.items() if t != team_id}

    async def invitation_token(self, team_id: str, by: str, to: str) -> str:
        response = await self.client.as_user(self.users[by].token).post(
            f"/api/teams/{team_id}/invitations", json={"email": self.users[to].email}
        )
        assert response.status_code == 201, response.text
        return await self.outbox.invitation_token(self.users[to].email)

    async def context(self, case: Case, actor: Actor) -> dict[str, str]:
        """The values that fill the case's path and body for this caller."""
        team_id = await self.team(case.colleague)
        values = {"colleague_email": self.users["colleague"].email}
        if case.invite == "to-caller":  # to a team of the colleague's, where no one else is
            team_id = await self.factory.team(self.users["colleague"], name="Elsewhere")
            values["token"] = await self.invitation_token(team_id, "colleague", actor)
        elif case.invite == "to-colleague":
            values["token"] = await self.invitation_token(team_id, "owner", "colleague")
        if "{invitation_id}" in case.route:
            values["invitation_id"] = await self.db.invite(
                team_id, self.users["owner"], "invited@example.com", Role.MEMBER
            )
        who = {"self": actor, "owner": "owner", "colleague": "colleague"}[case.target]
        return {**values, "team_id": team_id, "user_id": self.users[who].id}


async def send(client: Client, case: Case, values: dict[str, str]) -> Response:
    path = case.route.format(**values)
    body = {k: v.format(**values) for k, v in case.body.items()} if case.body else None
    return await client.request(case.method, path, json=body)


async def run(world: World, case: Case, actor: Actor) -> list[str]:
    """Make the request as `actor`; return what went against the table."""
    values = await world.context(case, actor)
    caller = world.client.as_user(world.users[actor].token)
    before = await world.db.state(values["team_id"], world.users[actor].id)
    response = await send(caller, case, values)
    if response.status_code < 400 and case.method != "GET":
        world.spoil(values["team_id"])
    label = f"{case.method} {case.route} ({case.what}) as {actor}"
    if response.status_code != case.expected(actor):
        got = f"{response.status_code} {response.text}"
        return [f"{label}: expected {case.expected(actor)}, got {got}"]
    if response.status_code < 400:
        return []
    error_of(response.json())
    problems = []
    if await world.db.state(values["team_id"], world.users[actor].id) != before:
        problems.append(f"{label}: failed with {response.status_code} but changed something")
    if actor == "outsider" and case.about_a_team:
        missing = await send(caller, case, {**values, "team_id": MISSING_TEAM})
        seen = (response.status_code, response.json())
        if seen != (missing.status_code, missing.json()):
            problems.append(f"{label}: {seen} differs from a missing team's answer")
    return problems


async def test_access_matrix(client: Client, factory: Factory, db: Db, outbox: Outbox) -> None:
    names = ("owner", "admin", "member", "viewer", "outsider", "colleague")
    users = {name: await factory.user(f"{name}@example.com") for name in names}
    world = World(client, factory, db, outbox, users)
    problems: list[str] = []
    for case in CASES:
        for actor in ACTORS:
            problems += await run(world, case, actor)
    assert problems == [], "\n" + "\n".join(problems)


async def test_every_route_needs_credentials(client: Client, factory: Factory, db: Db) -> None:
    owner = await factory.user()
    team_id = await factory.team(owner)
    values = {
        "team_id": team_id,
        "user_id": owner.id,
        "invitation_id": await db.invite(team_id, owner, "invited@example.com", Role.MEMBER),
        "colleague_email": "colleague@example.com",
        "token": "ipt_made-up",
    }
    wrong: list[str] = []
    for case in CASES:
        response = await send(client, case, values)
        if response.status_code != 401:
            wrong.append(f"{case.method} {case.route}: {response.status_code}")
        else:
            error_of(response.json())
    assert wrong == []
    assert await db.memberships(team_id) == {owner.id: "owner"}


async def test_rows_of_another_team_are_not_found_through_mine(
    client: Client, factory: Factory, db: Db
) -> None:
    """An owner of team A reaches nothing of team B by putting B's ids in A's URLs."""
    mine, theirs = await factory.user(), await factory.user()
    my_team = await factory.team(mine)
    their_team = await factory.team(theirs)
    invitation = await db.invite(their_team, theirs, "invited@example.com", Role.MEMBER)
    me = client.as_user(mine.token)

    requests = [
        ("DELETE", f"/api/teams/{my_team}/invitations/{invitation}", None),
        ("PUT", f"/api/teams/{my_team}/members/{theirs.id}", {"role": "viewer"}),
        ("DELETE", f"/api/teams/{my_team}/members/{theirs.id}", None),
    ]
    for method, path, body in requests:
        response = await me.request(method, path, json=body)
        assert response.status_code == 404, response.text
        error_of(response.json())
    assert [i.revoked_at for i in await db.invitations(their_team)] == [None]
    assert await db.memberships(their_team) == {theirs.id: "owner"}
