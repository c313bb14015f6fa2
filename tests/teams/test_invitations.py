"""Invitations: the mail and its single-use link, accepting, revoking, expiry, replacement.

Mail goes to the outbox folder (the test settings configure no SMTP server); the tests read
the token from the link in the mail, as the invitee would.
"""

from __future__ import annotations

import asyncio
import hashlib
from datetime import datetime, timedelta
from typing import Any

from instapods.kit.clock import utcnow
from instapods.models import Invitation, Role
from tests.fixtures.errors import error_of, fields_of
from tests.fixtures.factories import Factory, UserHandle
from tests.fixtures.http import Client
from tests.teams.conftest import Db, Outbox

INVITATION_FIELDS = {"id", "email", "role", "invited_by", "expires_at", "created_at"}


def parse(timestamp: str) -> datetime:
    assert timestamp.endswith("Z"), timestamp
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00"))


async def invite(
    client: Client, by: UserHandle, team_id: str, email: str, role: str = "member"
) -> dict[str, Any]:
    response = await client.as_user(by.token).post(
        f"/api/teams/{team_id}/invitations", json={"email": email, "role": role}
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def accept(client: Client, user: UserHandle, token: str) -> tuple[int, Any]:
    response = await client.as_user(user.token).post(
        "/api/invitations/accept", json={"token": token}
    )
    return response.status_code, response.json()


async def pending(client: Client, by: UserHandle, team_id: str) -> list[dict[str, Any]]:
    response = await client.as_user(by.token).get(f"/api/teams/{team_id}/invitations")
    assert response.status_code == 200, response.text
    invitations: list[dict[str, Any]] = response.json()["invitations"]
    return invitations


async def test_invite_mails_a_link_that_adds_the_invitee(
    client: Client, factory: Factory, db: Db, outbox: Outbox
) -> None:
    owner = await factory.user(name="Olga")
    invitee = await factory.user("nina@example.com")
    team_id = await factory.team(owner, "Acme")

    invitation = await invite(client, owner, team_id, "Nina@Example.com", "admin")

    assert set(invitation) == INVITATION_FIELDS
    assert invitation["id"].startswith("inv_")
    assert (invitation["email"], invitation["role"], invitation["invited_by"]) == (
        "nina@example.com",
        "admin",
        owner.id,
    )
    assert await pending(client, owner, team_id) == [invitation]
    mail = await outbox.one_to("nina@example.com")
    assert "Olga" in mail.subject
    assert "Acme" in mail.subject
    assert "admin" in mail.text

    status, team = await accept(client, invitee, outbox.token(mail))

    assert status == 200, team
    assert {k: team[k] for k in ("id", "name", "role", "personal", "member_count")} == {
        "id": team_id,
        "name": "Acme",
        "role": "admin",
        "personal": False,
        "member_count": 2,
    }
    assert await db.memberships(team_id) == {owner.id: "owner", invitee.id: "admin"}
    row = await db.invitation(invitation["id"])
    assert (row.accepted_by, row.accepted_at is not None) == (invitee.id, True)
    assert await pending(client, owner, team_id) == []
    seen = (await client.as_user(invitee.token).get("/api/teams")).json()["teams"]
    assert [t["role"] for t in seen if t["id"] == team_id] == ["admin"]


async def test_someone_without_an_account_signs_up_then_accepts(
    client: Client, factory: Factory, db: Db, outbox: Outbox
) -> None:
    owner = await factory.user()
    team_id = await factory.team(owner, "Acme")
    await invite(client, owner, team_id, "later@example.com", "viewer")
    token = await outbox.invitation_token("later@example.com")

    newcomer = await factory.user("later@example.com", verified=False)
    status, team = await accept(client, newcomer, token)

    assert status == 200, team
    assert team["role"] == "viewer"
    assert (await db.memberships(team_id))[newcomer.id] == "viewer"
    # The mail reached the address, which proves it as well as the verification mail would.
    user = (await client.as_user(newcomer.token).get("/api/auth/user")).json()
    assert user["email_verified"] is True


async def test_a_link_works_once(client: Client, factory: Factory, db: Db, outbox: Outbox) -> None:
    owner, invitee = await factory.user(), await factory.user()
    team_id = await factory.team(owner, "Acme")
    await invite(client, owner, team_id, invitee.email, "member")
    token = await outbox.invitation_token(invitee.email)
    assert (await accept(client, invitee, token))[0] == 200
    api = client.as_user(invitee.token)
    assert (await api.delete(f"/api/teams/{team_id}/members/{invitee.id}")).status_code == 200

    status, body = await accept(client, invitee, token)

    assert status == 400
    error_of(body)
    assert await db.memberships(team_id) == {owner.id: "owner"}


async def test_a_link_used_several_times_at_once_works_once(
    client: Client, factory: Factory, db: Db, outbox: Outbox
) -> None:
    owner, invitee = await factory.user(), await factory.user()
    for _ in range(3):
        team_id = await factory.team(owner, "Acme")
        await invite(client, owner, team_id, invitee.email, "member")
        token = await outbox.invitation_token(invitee.email)

        results = await asyncio.gather(*(accept(client, invitee, token) for _ in range(3)))

        assert sorted(status for status, _ in results) == [200, 400, 400]
        assert await db.memberships(team_id) == {owner.id: "owner", invitee.id: "member"}


async def test_the_signed_in_address_must_be_the_invited_one(
    client: Client, factory: Factory, db: Db, outbox: Outbox
) -> None:
    owner, invitee, intruder = await factory.user(), await factory.user(), await factory.user()
    team_id = await factory.team(owner, "Acme")
    invitation = await invite(client, owner, team_id, invitee.email, "admin")
    token = await outbox.invitation_token(invitee.email)

    status, body = await accept(client, intruder, token)

    assert status == 403
    error_of(body)
    assert await db.memberships(team_id) == {owner.id: "owner"}
    assert await pending(client, owner, team_id) == [invitation]
    assert (await accept(client, invitee, token))[0] == 200


async def test_a_revoked_invitation_cannot_be_accepted(
    client: Client, factory: Factory, db: Db, outbox: Outbox
) -> None:
    owner, invitee = await factory.user(), await factory.user()
    team_id = await factory.team(owner, "Acme")
    invitation = await invite(client, owner, team_id, invitee.email)
    token = await outbox.invitation_token(invitee.email)
    api = client.as_user(owner.token)

    revoked = await api.delete(f"/api/teams/{team_id}/invitations/{invitation['id']}")

    assert revoked.status_code == 200
    assert revoked.json() == {"status": "revoked"}
    assert await pending(client, owner, team_id) == []
    status, body = await accept(client, invitee, token)
    assert status == 400
    error_of(body)
    assert await db.memberships(team_id) == {owner.id: "owner"}
    for invitation_id in (invitation["id"], "inv_doesnotexist"):
        again = await api.delete(f"/api/teams/{team_id}/invitations/{invitation_id}")
        assert again.status_code == 404
        assert error_of(again.json()) == "Invitation not found"


async def test_an_expired_invitation_cannot_be_accepted(
    client: Client, factory: Factory, db: Db, outbox: Outbox
) -> None:
    owner, invitee = await factory.user(), await factory.user()
    team_id = await factory.team(owner, "Acme")
    invitation = await invite(client, owner, team_id, invitee.email)
    token = await outbox.invitation_token(invitee.email)
    await db.update(Invitation, invitation["id"], expires_at=utcnow() - timedelta(seconds=1))

    status, body = await accept(client, invitee, token)

    assert status == 400
    error_of(body)
    assert await db.memberships(team_id) == {owner.id: "owner"}
    assert await pending(client, owner, team_id) == []
    assert (await db.invitation(invitation["id"])).accepted_at is None


async def test_an_invitation_expires_seven_days_after_it_is_made(
    client: Client, factory: Factory, db: Db
) -> None:
    owner = await factory.user()
    team_id = await factory.team(owner, "Acme")
    started = utcnow()

    invitation = await invite(client, owner, team_id, "someone@example.com")

    created, expires = parse(invitation["created_at"]), parse(invitation["expires_at"])
    assert expires - created == timedelta(days=7)
    assert started <= created <= utcnow()
    row = await db.invitation(invitation["id"])
    assert (row.created_at, row.expires_at) == (created, expires)


async def test_a_new_invitation_replaces_the_pending_one(
    client: Client, factory: Factory, db: Db, outbox: Outbox
) -> None:
    owner, admin, invitee = await factory.user(), await factory.user(), await factory.user()
    team_id = await factory.team(owner, "Acme", members={Role.ADMIN: admin})
    first = await invite(client, owner, team_id, invitee.email, "viewer")
    first_token = await outbox.invitation_token(invitee.email)

    second = await invite(client, admin, team_id, invitee.email, "admin")
    second_token = await outbox.invitation_token(invitee.email)

    assert second["id"] != first["id"]
    assert await pending(client, owner, team_id) == [second]
    assert (await db.invitation(first["id"])).revoked_at is not None
    assert (await accept(client, invitee, first_token))[0] == 400
    status, team = await accept(client, invitee, second_token)
    assert (status, team["role"]) == (200, "admin")
    assert (await db.memberships(team_id))[invitee.id] == "admin"


async def test_invitations_to_other_addresses_stay_pending(
    client: Client, factory: Factory, outbox: Outbox
) -> None:
    owner = await factory.user()
    team_id = await factory.team(owner, "Acme")

    first = await invite(client, owner, team_id, "one@example.com")
    second = await invite(client, owner, team_id, "two@example.com", "viewer")

    listed = await pending(client, owner, team_id)
    assert sorted(listed, key=lambda i: i["email"]) == [first, second]
    tokens = {await outbox.invitation_token(a) for a in ("one@example.com", "two@example.com")}
    assert len(tokens) == 2


async def test_inviting_a_member_is_a_conflict(
    client: Client, factory: Factory, db: Db, outbox: Outbox
) -> None:
    owner, viewer = await factory.user(), await factory.user()
    team_id = await factory.team(owner, "Acme", members={Role.VIEWER: viewer})
    api = client.as_user(owner.token)

    for email in (viewer.email, owner.email):
        response = await api.post(
            f"/api/teams/{team_id}/invitations", json={"email": email, "role": "admin"}
        )
        assert response.status_code == 409, email
        error_of(response.json())

    assert await db.invitations(team_id) == []
    assert await outbox.new() == []


async def test_the_token_is_kept_only_as_a_hash(
    client: Client, factory: Factory, db: Db, outbox: Outbox
) -> None:
    owner = await factory.user()
    team_id = await factory.team(owner, "Acme")

    created = await client.as_user(owner.token).post(
        f"/api/teams/{team_id}/invitations", json={"email": "someone@example.com"}
    )
    token = await outbox.invitation_token("someone@example.com")

    assert len(token) >= 43  # 32 random bytes, URL-safe base64
    row = await db.invitation(created.json()["id"])
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    columns = [getattr(row, c.key) for c in Invitation.__table__.columns]
    assert not any(token in str(value) for value in columns)
    assert token not in created.text
    listed = await client.as_user(owner.token).get(f"/api/teams/{team_id}/invitations")
    assert token not in listed.text
    assert row.token_hash not in listed.text
    assert set(listed.json()["invitations"][0]) == INVITATION_FIELDS


async def test_invite_validates_its_body(
    client: Client, factory: Factory, db: Db, outbox: Outbox
) -> None:
    owner = await factory.user()
    team_id = await factory.team(owner, "Acme")
    api = client.as_user(owner.token)

    for body, field in (
        ({"email": "not an email", "role": "member"}, "email"),
        ({"role": "member"}, "email"),
        ({"email": "someone@example.com", "role": "root"}, "role"),
    ):
        response = await api.post(f"/api/teams/{team_id}/invitations", json=body)
        assert response.status_code == 400, body
        assert fields_of(response.json()) == [field]

    assert await db.invitations(team_id) == []
    assert await outbox.new() == []


async def test_accept_validates_its_body(client: Client, factory: Factory) -> None:
    user = await factory.user()
    api = client.as_user(user.token)

    for body in ({}, {"token": ""}, {"token": "x" * 513}, {"token": None}):
        response = await api.post("/api/invitations/accept", json=body)
        assert response.status_code == 400, body
        assert fields_of(response.json()) == ["token"]


async def test_an_invitation_to_a_deleted_team_is_void(
    client: Client, factory: Factory, outbox: Outbox
) -> None:
    owner, invitee = await factory.user(), await factory.user()
    team_id = await factory.team(owner, "Acme")
    await invite(client, owner, team_id, invitee.email)
    token = await outbox.invitation_token(invitee.email)
    assert (await client.as_user(owner.token).delete(f"/api/teams/{team_id}")).status_code == 200

    status, body = await accept(client, invitee, token)

    assert status == 400
    error_of(body)
    teams = (await client.as_user(invitee.token).get("/api/teams")).json()["teams"]
    assert [t["id"] for t in teams] == [invitee.personal_team_id]
