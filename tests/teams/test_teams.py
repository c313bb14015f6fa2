"""Teams themselves: listing, creating, renaming, switching and deleting."""

from __future__ import annotations

import re
from typing import Any

from instapods.models import Role
from tests.fixtures.errors import error_of, fields_of
from tests.fixtures.factories import Factory
from tests.fixtures.http import Client
from tests.teams.conftest import Db

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")

INVALID_NAMES: list[tuple[str, Any]] = [
    ("empty", ""),
    ("blank", "   "),
    ("too long", "x" * 65),
    ("NUL", "Acme\x00"),
    ("newline", "Acme\nInc"),
    ("tab", "Acme\tInc"),
    ("escape", "Acme\x1b[31m"),
    ("right-to-left override", "Acme\u202etxt.exe"),
    ("not a string", 42),
    ("null", None),
]
VALID_NAMES = [
    ("Équipe 🚀", "Équipe 🚀"),
    ("日本のチーム", "日本のチーム"),
    ("x" * 64, "x" * 64),
    ("  Trimmed  ", "Trimmed"),
    ("Cafe\u0301", "Caf\u00e9"),  # stored in NFC
]


def by_id(teams: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {t["id"]: t for t in teams}


async def test_list_shows_role_personal_current_and_member_count(
    client: Client, factory: Factory
) -> None:
    owner, viewer = await factory.user(), await factory.user()
    team_id = await factory.team(owner, "Acme", members={Role.VIEWER: viewer})
    await factory.team(owner, "Not for viewers")

    response = await client.as_user(viewer.token).get("/api/teams")

    assert response.status_code == 200
    teams = response.json()["teams"]
    # Only the caller's own teams, the personal one first.
    assert [t["id"] for t in teams] == [viewer.personal_team_id, team_id]
    personal, acme = teams
    assert personal == {
        "id": viewer.personal_team_id,
        "name": "Personal",
        "role": "owner",
        "personal": True,
        "current": True,
        "member_count": 1,
        "created_at": personal["created_at"],
    }
    assert acme == {
        "id": team_id,
        "name": "Acme",
        "role": "viewer",
        "personal": False,
        "current": False,
        "member_count": 2,
        "created_at": acme["created_at"],
    }
    assert TIMESTAMP.match(acme["created_at"])


async def test_create_makes_the_caller_owner(client: Client, factory: Factory) -> None:
    user = await factory.user()
    api = client.as_user(user.token)

    response = await api.post("/api/teams", json={"name": "Acme"})

    assert response.status_code == 201
    team = response.json()
    assert team["id"].startswith("team_")
    assert team["name"] == "Acme"
    assert team["role"] == "owner"
    assert (team["personal"], team["current"], team["member_count"]) == (False, False, 1)
    assert TIMESTAMP.match(team["created_at"])
    detail = (await api.get(f"/api/teams/{team['id']}")).json()
    assert [(m["user_id"], m["role"]) for m in detail["members"]] == [(user.id, "owner")]
    listed = by_id((await api.get("/api/teams")).json()["teams"])
    assert listed[team["id"]]["role"] == "owner"
    # Creating a team does not move the caller into it.
    assert (await api.get("/api/auth/user")).json()["current_team_id"] == user.personal_team_id


async def test_get_shows_the_team_with_its_members(client: Client, factory: Factory) -> None:
    owner, member = await factory.user(name="Olga"), await factory.user(name="Max")
    team_id = await factory.team(owner, "Acme", members={Role.MEMBER: member})

    response = await client.as_user(member.token).get(f"/api/teams/{team_id}")

    assert response.status_code == 200
    team = response.json()
    assert (team["id"], team["name"], team["role"], team["member_count"]) == (
        team_id,
        "Acme",
        "member",
        2,
    )
    members = {m["user_id"]: m for m in team["members"]}
    assert members[owner.id]["role"] == "owner"
    assert members[owner.id]["name"] == "Olga"
    assert members[member.id]["email"] == member.email
    assert members[member.id]["role"] == "member"
    assert TIMESTAMP.match(members[member.id]["joined_at"])


async def test_create_and_rename_refuse_invalid_names(
    client: Client, factory: Factory, db: Db
) -> None:
    owner = await factory.user()
    team_id = await factory.team(owner, "Acme")
    api = client.as_user(owner.token)
    before = {t["id"] for t in (await api.get("/api/teams")).json()["teams"]}

    for label, name in INVALID_NAMES:
        created = await api.post("/api/teams", json={"name": name})
        renamed = await api.put(f"/api/teams/{team_id}", json={"name": name})
        for response in (created, renamed):
            assert response.status_code == 400, (label, response.text)
            assert fields_of(response.json()) == ["name"], label

    missing = await api.post("/api/teams", json={})
    assert missing.status_code == 400
    assert fields_of(missing.json()) == ["name"]
    assert {t["id"] for t in (await api.get("/api/teams")).json()["teams"]} == before
    team = await db.team(team_id)
    assert team is not None
    assert team.name == "Acme"


async def test_create_and_rename_accept_unicode_names(client: Client, factory: Factory) -> None:
    owner = await factory.user()
    team_id = await factory.team(owner, "Acme")
    api = client.as_user(owner.token)

    for name, stored in VALID_NAMES:
        renamed = await api.put(f"/api/teams/{team_id}", json={"name": name})
        created = await api.post("/api/teams", json={"name": name})

        assert renamed.status_code == 200, renamed.text
        assert renamed.json()["name"] == stored
        assert created.status_code == 201, created.text
        assert created.json()["name"] == stored
        assert (await api.get(f"/api/teams/{team_id}")).json()["name"] == stored


async def test_rename_returns_the_team_and_is_seen_by_members(
    client: Client, factory: Factory
) -> None:
    owner, admin, viewer = await factory.user(), await factory.user(), await factory.user()
    team_id = await factory.team(owner, "Acme", members={Role.ADMIN: admin, Role.VIEWER: viewer})

    response = await client.as_user(admin.token).put(
        f"/api/teams/{team_id}", json={"name": "Acme Labs"}
    )

    assert response.status_code == 200
    assert response.json()["name"] == "Acme Labs"
    assert response.json()["role"] == "admin"
    assert response.json()["member_count"] == 3
    seen = by_id((await client.as_user(viewer.token).get("/api/teams")).json()["teams"])
    assert seen[team_id]["name"] == "Acme Labs"


async def test_a_name_is_at_most_64_characters_once_normalised(
    client: Client, factory: Factory, db: Db
) -> None:
    """NFC can lengthen a string: 64 x U+0958 becomes 128 characters."""
    owner = await factory.user()
    team_id = await factory.team(owner, "Acme")
    api = client.as_user(owner.token)

    created = await api.post("/api/teams", json={"name": "\u0958" * 64})
    renamed = await api.put(f"/api/teams/{team_id}", json={"name": "\u0958" * 64})

    for response in (created, renamed):
        assert response.status_code == 400, response.text
        assert fields_of(response.json()) == ["name"]
    team = await db.team(team_id)
    assert team is not None
    assert team.name == "Acme"


async def test_names_may_hold_joiners_that_scripts_and_emoji_need(
    client: Client, factory: Factory
) -> None:
    owner = await factory.user()
    api = client.as_user(owner.token)

    for name in (
        "\U0001f469\u200d\U0001f4bb Devs",
        "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645",
    ):
        response = await api.post("/api/teams", json={"name": name})
        assert response.status_code == 201, (name, response.text)
        assert response.json()["name"] == name


async def test_switch_sets_the_current_team(client: Client, factory: Factory) -> None:
    owner, member = await factory.user(), await factory.user()
    team_id = await factory.team(owner, "Acme", members={Role.MEMBER: member})
    api = client.as_user(member.token)

    response = await api.post("/api/teams/switch", json={"team_id": team_id})

    assert response.status_code == 200
    assert response.json() == {"current_team_id": team_id}
    assert (await api.get("/api/auth/user")).json()["current_team_id"] == team_id
    teams = by_id((await api.get("/api/teams")).json()["teams"])
    assert teams[team_id]["current"] is True
    assert teams[member.personal_team_id]["current"] is False
    assert (await api.get(f"/api/teams/{team_id}")).json()["current"] is True
    # Only the caller moved.
    owner_api = client.as_user(owner.token)
    assert (await owner_api.get("/api/auth/user")).json()["current_team_id"] == (
        owner.personal_team_id
    )

    back = await api.post("/api/teams/switch", json={"team_id": member.personal_team_id})
    assert back.json() == {"current_team_id": member.personal_team_id}
    assert (await api.get("/api/auth/user")).json()["current_team_id"] == (member.personal_team_id)


async def test_switch_to_a_team_i_am_not_in_is_refused(client: Client, factory: Factory) -> None:
    me, stranger = await factory.user(), await factory.user()
    their_team = await factory.team(stranger, "Theirs")
    api = client.as_user(me.token)

    for team_id in (their_team, stranger.personal_team_id, "team_doesnotexist", ""):
        response = await api.post("/api/teams/switch", json={"team_id": team_id})
        assert response.status_code == 404, team_id
        assert error_of(response.json()) == "Team not found"
    for body in ({}, {"team_id": None}, {"team_id": "x" * 65}):
        response = await api.post("/api/teams/switch", json=body)
        assert response.status_code == 400, body
        assert fields_of(response.json()) == ["team_id"]

    assert (await api.get("/api/auth/user")).json()["current_team_id"] == me.personal_team_id


async def test_the_personal_team_cannot_be_deleted(
    client: Client, factory: Factory, db: Db
) -> None:
    user = await factory.user()

    response = await client.as_user(user.token).delete(f"/api/teams/{user.personal_team_id}")

    assert response.status_code == 400
    assert "personal" in error_of(response.json()).lower()
    assert await db.team(user.personal_team_id) is not None
    assert await db.memberships(user.personal_team_id) == {user.id: "owner"}


async def test_delete_removes_the_team_and_resets_current_teams(
    client: Client, factory: Factory, db: Db
) -> None:
    owner, admin, viewer = await factory.user(), await factory.user(), await factory.user()
    team_id = await factory.team(owner, "Acme", members={Role.ADMIN: admin, Role.VIEWER: viewer})
    other_team = await factory.team(owner, "Other", members={Role.VIEWER: admin})
    await db.invite(team_id, owner, "invited@example.com", Role.MEMBER)
    for user in (owner, viewer):
        await client.as_user(user.token).post("/api/teams/switch", json={"team_id": team_id})
    await client.as_user(admin.token).post("/api/teams/switch", json={"team_id": other_team})

    response = await client.as_user(owner.token).delete(f"/api/teams/{team_id}")

    assert response.status_code == 200
    assert response.json() == {"status": "deleted"}
    for user, current in ((owner, owner.personal_team_id), (viewer, viewer.personal_team_id)):
        api = client.as_user(user.token)
        assert (await api.get("/api/auth/user")).json()["current_team_id"] == current
        teams = (await api.get("/api/teams")).json()["teams"]
        assert team_id not in by_id(teams)
        assert [t["id"] for t in teams if t["current"]] == [current]
        assert (await api.get(f"/api/teams/{team_id}")).status_code == 404
    # A member whose current team was another one stays there.
    admin_api = client.as_user(admin.token)
    assert (await admin_api.get("/api/auth/user")).json()["current_team_id"] == other_team
    assert await db.team(team_id) is None
    assert await db.memberships(team_id) == {}
    assert await db.invitations(team_id) == []
    assert await db.memberships(other_team) == {owner.id: "owner", admin.id: "viewer"}
    again = await client.as_user(owner.token).delete(f"/api/teams/{team_id}")
    assert again.status_code == 404
    assert error_of(again.json()) == "Team not found"
