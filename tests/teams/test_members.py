"""Members of a team: adding, changing roles, removing, leaving, and the one-owner rule."""

from __future__ import annotations

import asyncio

from instapods.models import Role
from tests.fixtures.errors import error_of, fields_of
from tests.fixtures.factories import Factory
from tests.fixtures.http import Client
from tests.teams.conftest import Db


async def test_list_members(client: Client, factory: Factory) -> None:
    owner = await factory.user(name="Olga")
    viewer = await factory.user(name="Vic")
    team_id = await factory.team(owner, "Acme", members={Role.VIEWER: viewer})

    response = await client.as_user(viewer.token).get(f"/api/teams/{team_id}/members")

    assert response.status_code == 200
    members = response.json()["members"]
    assert sorted(
        ({k: v for k, v in m.items() if k != "joined_at"} for m in members),
        key=lambda m: m["role"],
    ) == [
        {"user_id": owner.id, "email": owner.email, "name": "Olga", "role": "owner"},
        {"user_id": viewer.id, "email": viewer.email, "name": "Vic", "role": "viewer"},
    ]
    assert all(m["joined_at"].endswith("Z") for m in members)


async def test_add_an_existing_user(client: Client, factory: Factory, db: Db) -> None:
    owner, newcomer = await factory.user(), await factory.user(name="Nina")
    team_id = await factory.team(owner, "Acme")

    response = await client.as_user(owner.token).post(
        f"/api/teams/{team_id}/members", json={"email": newcomer.email, "role": "admin"}
    )

    assert response.status_code == 201
    body = response.json()
    assert {k: v for k, v in body.items() if k != "joined_at"} == {
        "user_id": newcomer.id,
        "email": newcomer.email,
        "name": "Nina",
        "role": "admin",
    }
    assert await db.memberships(team_id) == {owner.id: "owner", newcomer.id: "admin"}
    seen = (await client.as_user(newcomer.token).get("/api/teams")).json()["teams"]
    assert [(t["id"], t["role"], t["member_count"]) for t in seen if t["id"] == team_id] == [
        (team_id, "admin", 2)
    ]


async def test_add_defaults_to_member_and_matches_the_email_loosely(
    client: Client, factory: Factory, db: Db
) -> None:
    owner, newcomer = await factory.user(), await factory.user("nina@example.com")
    team_id = await factory.team(owner, "Acme")

    response = await client.as_user(owner.token).post(
        f"/api/teams/{team_id}/members", json={"email": "  Nina@EXAMPLE.com "}
    )

    assert response.status_code == 201, response.text
    assert response.json()["role"] == "member"
    assert (await db.memberships(team_id))[newcomer.id] == "member"


async def test_add_an_unknown_email_is_not_found(client: Client, factory: Factory, db: Db) -> None:
    owner = await factory.user()
    team_id = await factory.team(owner, "Acme")

    response = await client.as_user(owner.token).post(
        f"/api/teams/{team_id}/members", json={"email": "nobody@example.com", "role": "member"}
    )

    assert response.status_code == 404
    error_of(response.json())
    assert await db.memberships(team_id) == {owner.id: "owner"}


async def test_add_someone_already_in_the_team_is_a_conflict(
    client: Client, factory: Factory, db: Db
) -> None:
    owner, viewer = await factory.user(), await factory.user()
    team_id = await factory.team(owner, "Acme", members={Role.VIEWER: viewer})
    api = client.as_user(owner.token)

    for email in (viewer.email, owner.email):
        response = await api.post(
            f"/api/teams/{team_id}/members", json={"email": email, "role": "admin"}
        )
        assert response.status_code == 409, email
        error_of(response.json())

    assert await db.memberships(team_id) == {owner.id: "owner", viewer.id: "viewer"}


async def test_add_validates_its_body(client: Client, factory: Factory) -> None:
    owner = await factory.user()
    team_id = await factory.team(owner, "Acme")
    api = client.as_user(owner.token)

    for body, field in (
        ({"email": "not an email", "role": "member"}, "email"),
        ({"role": "member"}, "email"),
        ({"email": owner.email, "role": "superuser"}, "role"),
        ({"email": owner.email, "role": "OWNER"}, "role"),
    ):
        response = await api.post(f"/api/teams/{team_id}/members", json=body)
        assert response.status_code == 400, body
        assert fields_of(response.json()) == [field]


async def test_change_a_role(client: Client, factory: Factory, db: Db) -> None:
    owner, member = await factory.user(), await factory.user()
    team_id = await factory.team(owner, "Acme", members={Role.MEMBER: member})

    response = await client.as_user(owner.token).put(
        f"/api/teams/{team_id}/members/{member.id}", json={"role": "admin"}
    )

    assert response.status_code == 200
    assert response.json()["user_id"] == member.id
    assert response.json()["role"] == "admin"
    assert await db.memberships(team_id) == {owner.id: "owner", member.id: "admin"}
    team = (await client.as_user(member.token).get(f"/api/teams/{team_id}")).json()
    assert team["role"] == "admin"


async def test_change_the_role_of_a_non_member_is_not_found(
    client: Client, factory: Factory
) -> None:
    owner, stranger = await factory.user(), await factory.user()
    team_id = await factory.team(owner, "Acme")
    api = client.as_user(owner.token)

    for user_id in (stranger.id, "usr_doesnotexist"):
        changed = await api.put(f"/api/teams/{team_id}/members/{user_id}", json={"role": "admin"})
        removed = await api.delete(f"/api/teams/{team_id}/members/{user_id}")
        assert (changed.status_code, removed.status_code) == (404, 404)
        assert error_of(changed.json()) == error_of(removed.json()) == "Member not found"


async def test_the_last_owner_cannot_be_demoted_or_removed(
    client: Client, factory: Factory, db: Db
) -> None:
    owner, admin = await factory.user(), await factory.user()
    team_id = await factory.team(owner, "Acme", members={Role.ADMIN: admin})
    api = client.as_user(owner.token)

    demoted = await api.put(f"/api/teams/{team_id}/members/{owner.id}", json={"role": "admin"})
    left = await api.delete(f"/api/teams/{team_id}/members/{owner.id}")

    assert (demoted.status_code, left.status_code) == (409, 409)
    assert "owner" in error_of(demoted.json())
    assert "owner" in error_of(left.json())
    assert await db.memberships(team_id) == {owner.id: "owner", admin.id: "admin"}


async def test_with_two_owners_one_may_leave_then_the_other_must_stay(
    client: Client, factory: Factory, db: Db
) -> None:
    first, second = await factory.user(), await factory.user()
    team_id = await factory.team(first, "Acme")
    promoted = await client.as_user(first.token).post(
        f"/api/teams/{team_id}/members", json={"email": second.email, "role": "owner"}
    )
    assert promoted.status_code == 201

    left = await client.as_user(first.token).delete(f"/api/teams/{team_id}/members/{first.id}")

    assert left.status_code == 200
    assert left.json() == {"status": "removed"}
    assert await db.memberships(team_id) == {second.id: "owner"}
    second_api = client.as_user(second.token)
    stays = await second_api.delete(f"/api/teams/{team_id}/members/{second.id}")
    assert stays.status_code == 409
    demoted = await second_api.put(
        f"/api/teams/{team_id}/members/{second.id}", json={"role": "member"}
    )
    assert demoted.status_code == 409
    assert await db.memberships(team_id) == {second.id: "owner"}


async def test_an_owner_may_demote_another_owner(client: Client, factory: Factory, db: Db) -> None:
    first, second = await factory.user(), await factory.user()
    team_id = await factory.team(first, "Acme")
    await db.add_member(team_id, first, second, Role.OWNER)

    response = await client.as_user(second.token).put(
        f"/api/teams/{team_id}/members/{first.id}", json={"role": "viewer"}
    )

    assert response.status_code == 200
    assert await db.memberships(team_id) == {first.id: "viewer", second.id: "owner"}


async def test_admins_cannot_touch_the_owner_role(client: Client, factory: Factory, db: Db) -> None:
    owner, admin, member = await factory.user(), await factory.user(), await factory.user()
    team_id = await factory.team(owner, "Acme", members={Role.ADMIN: admin, Role.MEMBER: member})
    api = client.as_user(admin.token)
    before = await db.memberships(team_id)

    attempts = [
        ("PUT", f"/api/teams/{team_id}/members/{member.id}", {"role": "owner"}),
        ("PUT", f"/api/teams/{team_id}/members/{admin.id}", {"role": "owner"}),
        ("PUT", f"/api/teams/{team_id}/members/{owner.id}", {"role": "admin"}),
        ("DELETE", f"/api/teams/{team_id}/members/{owner.id}", None),
        ("POST", f"/api/teams/{team_id}/invitations", {"email": "x@example.com", "role": "owner"}),
    ]
    for method, path, body in attempts:
        response = await api.request(method, path, json=body)
        assert response.status_code == 403, (method, path, body)
        error_of(response.json())

    assert await db.memberships(team_id) == before
    assert await db.invitations(team_id) == []


async def test_admins_manage_members_and_admins(client: Client, factory: Factory, db: Db) -> None:
    owner, admin, other_admin = await factory.user(), await factory.user(), await factory.user()
    team_id = await factory.team(owner, "Acme", members={Role.ADMIN: admin})
    await db.add_member(team_id, owner, other_admin, Role.ADMIN)
    api = client.as_user(admin.token)

    demoted = await api.put(
        f"/api/teams/{team_id}/members/{other_admin.id}", json={"role": "viewer"}
    )
    removed = await api.delete(f"/api/teams/{team_id}/members/{other_admin.id}")

    assert (demoted.status_code, removed.status_code) == (200, 200)
    assert await db.memberships(team_id) == {owner.id: "owner", admin.id: "admin"}


async def test_leave_a_team(client: Client, factory: Factory, db: Db) -> None:
    owner, viewer = await factory.user(), await factory.user()
    team_id = await factory.team(owner, "Acme", members={Role.VIEWER: viewer})
    api = client.as_user(viewer.token)
    await api.post("/api/teams/switch", json={"team_id": team_id})

    response = await api.delete(f"/api/teams/{team_id}/members/{viewer.id}")

    assert response.status_code == 200
    assert response.json() == {"status": "removed"}
    assert await db.memberships(team_id) == {owner.id: "owner"}
    assert (await api.get("/api/auth/user")).json()["current_team_id"] == viewer.personal_team_id
    assert (await api.get(f"/api/teams/{team_id}")).status_code == 404
    assert team_id not in [t["id"] for t in (await api.get("/api/teams")).json()["teams"]]


async def test_removing_a_member_resets_their_current_team_if_it_was_this_one(
    client: Client, factory: Factory, db: Db
) -> None:
    owner, member, viewer = await factory.user(), await factory.user(), await factory.user()
    team_id = await factory.team(owner, "Acme", members={Role.MEMBER: member, Role.VIEWER: viewer})
    for user in (owner, member, viewer):
        await client.as_user(user.token).post("/api/teams/switch", json={"team_id": team_id})

    response = await client.as_user(owner.token).delete(f"/api/teams/{team_id}/members/{member.id}")

    assert response.status_code == 200
    assert (await db.user(member.id)).current_team_id == member.personal_team_id
    assert (await db.user(viewer.id)).current_team_id == team_id
    assert (await db.user(owner.id)).current_team_id == team_id
    member_api = client.as_user(member.token)
    assert (await member_api.get("/api/auth/user")).json()["current_team_id"] == (
        member.personal_team_id
    )
    assert (await member_api.get(f"/api/teams/{team_id}")).status_code == 404


async def test_nobody_leaves_their_personal_team(client: Client, factory: Factory, db: Db) -> None:
    """Even with a second owner there, nobody leaves (or is removed from) their personal
    team: they would be left with no team, their current team pointing at one they are
    not in."""
    user, partner = await factory.user(), await factory.user()
    alone = await client.as_user(user.token).delete(
        f"/api/teams/{user.personal_team_id}/members/{user.id}"
    )
    assert alone.status_code == 400
    assert "personal" in error_of(alone.json())
    await db.add_member(user.personal_team_id, user, partner, Role.OWNER)

    for actor in (user, partner):
        response = await client.as_user(actor.token).delete(
            f"/api/teams/{user.personal_team_id}/members/{user.id}"
        )
        assert response.status_code == 400
        assert "personal" in error_of(response.json())

    assert await db.memberships(user.personal_team_id) == {user.id: "owner", partner.id: "owner"}
    partner_leaves = await client.as_user(partner.token).delete(
        f"/api/teams/{user.personal_team_id}/members/{partner.id}"
    )
    assert partner_leaves.status_code == 200
    assert await db.memberships(user.personal_team_id) == {user.id: "owner"}


async def test_two_owners_leaving_at_once_leave_one_owner(
    client: Client, factory: Factory, db: Db
) -> None:
    first, second = await factory.user(), await factory.user()
    for _ in range(3):
        team_id = await factory.team(first, "Acme")
        await db.add_member(team_id, first, second, Role.OWNER)

        responses = await asyncio.gather(
            *(
                client.as_user(u.token).delete(f"/api/teams/{team_id}/members/{u.id}")
                for u in (first, second)
            )
        )

        assert sorted(r.status_code for r in responses) == [200, 409]
        assert list((await db.memberships(team_id)).values()) == ["owner"]


async def test_two_owners_demoting_each_other_at_once_leave_one_owner(
    client: Client, factory: Factory, db: Db
) -> None:
    first, second = await factory.user(), await factory.user()
    for _ in range(3):
        team_id = await factory.team(first, "Acme")
        await db.add_member(team_id, first, second, Role.OWNER)

        responses = await asyncio.gather(
            *(
                client.as_user(actor.token).put(
                    f"/api/teams/{team_id}/members/{other.id}", json={"role": "member"}
                )
                for actor, other in ((first, second), (second, first))
            )
        )

        # The slower one finds itself the last owner (409), or no longer an owner (403).
        statuses = sorted(r.status_code for r in responses)
        assert statuses in ([200, 403], [200, 409]), statuses
        assert sorted((await db.memberships(team_id)).values()) == ["member", "owner"]
