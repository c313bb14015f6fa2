"""A request that fails leaves nothing behind: no row, no half-made change, no mail.

Each request runs in one transaction (`instapods.db.request_session`), and mail is posted only
once that transaction has committed. The access matrix also checks, for every refused request
of its table, that the team, its members and its invitations are as they were.
"""

from __future__ import annotations

from instapods.models import Role
from tests.fixtures.errors import error_of
from tests.fixtures.factories import Factory
from tests.fixtures.http import Client
from tests.teams.conftest import Db, Outbox


async def test_an_invalid_role_leaves_no_membership_and_no_invitation(
    client: Client, factory: Factory, db: Db, outbox: Outbox
) -> None:
    owner, member, newcomer = await factory.user(), await factory.user(), await factory.user()
    team_id = await factory.team(owner, "Acme", members={Role.MEMBER: member})
    api = client.as_user(owner.token)
    before = await db.state(team_id, owner.id)

    requests = [
        ("POST", f"/api/teams/{team_id}/members", {"email": newcomer.email, "role": "god"}),
        ("POST", f"/api/teams/{team_id}/invitations", {"email": newcomer.email, "role": ""}),
        ("PUT", f"/api/teams/{team_id}/members/{member.id}", {"role": "superadmin"}),
    ]
    for method, path, body in requests:
        response = await api.request(method, path, json=body)
        assert response.status_code == 400, (method, path)
        error_of(response.json())

    assert await db.state(team_id, owner.id) == before
    assert await db.memberships(team_id) == {owner.id: "owner", member.id: "member"}
    assert await db.invitations(team_id) == []
    assert await outbox.new() == []
    teams = (await client.as_user(newcomer.token).get("/api/teams")).json()["teams"]
    assert [t["id"] for t in teams] == [newcomer.personal_team_id]


async def test_a_refused_invitation_keeps_the_pending_one(
    client: Client, factory: Factory, db: Db, outbox: Outbox
) -> None:
    """Inviting an address revokes its pending invitation; when the new invitation is refused
    (an admin may not invite an owner), the old one must still stand."""
    owner, admin, invitee = await factory.user(), await factory.user(), await factory.user()
    team_id = await factory.team(owner, "Acme", members={Role.ADMIN: admin})
    created = await client.as_user(owner.token).post(
        f"/api/teams/{team_id}/invitations", json={"email": invitee.email, "role": "member"}
    )
    assert created.status_code == 201
    token = await outbox.invitation_token(invitee.email)
    before = await db.state(team_id, admin.id)

    refused = await client.as_user(admin.token).post(
        f"/api/teams/{team_id}/invitations", json={"email": invitee.email, "role": "owner"}
    )

    assert refused.status_code == 403
    assert await db.state(team_id, admin.id) == before
    assert await outbox.new() == []
    accepted = await client.as_user(invitee.token).post(
        "/api/invitations/accept", json={"token": token}
    )
    assert accepted.status_code == 200
    assert (await db.memberships(team_id))[invitee.id] == "member"


async def test_a_refused_acceptance_leaves_the_invitation_usable(
    client: Client, factory: Factory, db: Db, outbox: Outbox
) -> None:
    owner, invitee = await factory.user(), await factory.user(verified=False)
    team_id = await factory.team(owner, "Acme")
    await client.as_user(owner.token).post(
        f"/api/teams/{team_id}/invitations", json={"email": invitee.email, "role": "viewer"}
    )
    token = await outbox.invitation_token(invitee.email)
    before = await db.state(team_id, owner.id)

    refused = await client.as_user(owner.token).post(
        "/api/invitations/accept", json={"token": token}
    )

    assert refused.status_code == 403
    assert await db.state(team_id, owner.id) == before
    assert (await db.user(invitee.id)).email_verified_at is None
    accepted = await client.as_user(invitee.token).post(
        "/api/invitations/accept", json={"token": token}
    )
    assert accepted.status_code == 200
