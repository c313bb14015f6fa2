"""POST /api/auth/register: the account, its token and cookie, its personal team, bad input."""

from __future__ import annotations

import asyncio

import pytest
from fastapi import FastAPI

from instapods.config import Settings
from instapods.models import ApiToken, Membership, Team, User
from tests.auth.support import count, register, session_cookie, with_changes
from tests.fixtures.factories import running_app
from tests.fixtures.http import Client


async def test_register_returns_the_user_a_token_and_a_session_cookie(client: Client) -> None:
    response = await register(client, "ann@example.com", name="Ann")

    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"user", "token"}
    assert body["token"].startswith("ipt_")
    assert len(body["token"]) >= len("ipt_") + 43  # 32 random bytes, base64url
    user = body["user"]
    assert user["id"].startswith("usr_")
    assert user["email"] == "ann@example.com"
    assert user["name"] == "Ann"
    assert user["email_verified"] is False
    assert user["created_at"].endswith("Z")
    cookie = session_cookie(response)
    assert cookie.value == body["token"]
    assert cookie["httponly"] is True
    assert cookie["samesite"].lower() == "lax"
    assert not cookie["secure"]  # served over plain http
    assert cookie["path"] == "/"
    assert int(cookie["max-age"]) == 30 * 86400  # the token's lifetime

    me = await client.as_user(body["token"]).get("/api/auth/user")
    assert me.status_code == 200
    assert me.json() == user


async def test_session_cookie_is_secure_when_the_public_url_is_https(settings: Settings) -> None:
    https = with_changes(settings, public_url="https://pods.example.com")
    async with running_app(https) as app, Client.for_app(app) as client:
        response = await register(client, "ann@example.com")

    assert response.status_code == 201
    assert session_cookie(response)["secure"] is True


async def test_password_may_be_8_to_256_characters(client: Client) -> None:
    shortest = await register(client, "short@example.com", password="x" * 8)
    longest = await register(client, "long@example.com", password="y" * 256)

    assert (shortest.status_code, longest.status_code) == (201, 201)


async def test_email_is_normalised_and_taken_in_any_case(client: Client, app: FastAPI) -> None:
    first = await register(client, "  Ann@Example.COM ")
    assert first.status_code == 201
    assert first.json()["user"]["email"] == "ann@example.com"

    response = await register(client, " ANN@example.Com", password="another password")

    assert response.status_code == 409
    assert response.json() == {"error": "An account with this email already exists"}
    assert await count(app, User.id) == 1
    assert await count(app, Team.id) == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "ann@example.com", "password": "x" * 7}, "password"),
        ({"email": "ann@example.com", "password": "x" * 257}, "password"),
        ({"email": "ann@example.com"}, "password"),
        ({"email": "not an email", "password": "long enough"}, "email"),
        ({"email": "ann@example.com", "password": "long enough", "name": "Ann\x00"}, "name"),
        ({"email": "ann@example.com", "password": "long enough", "name": "Ann\nBob"}, "name"),
        ({"email": "ann@example.com", "password": "long enough", "name": "\u202eevil"}, "name"),
    ],
    ids=[
        "password-7",
        "password-257",
        "password-missing",
        "email",
        "name-nul",
        "name-newline",
        "name-bidi-override",
    ],
)
async def test_invalid_input_is_400_with_details_and_creates_nothing(
    client: Client, app: FastAPI, body: dict[str, str], field: str
) -> None:
    response = await client.post("/api/auth/register", json=body)

    assert response.status_code == 400
    error = response.json()
    assert set(error) == {"error", "details"}
    assert [d["field"] for d in error["details"]] == [field]
    assert error["details"][0]["message"]
    assert "set-cookie" not in response.headers
    assert await count(app, User.id) == 0
    assert await count(app, Team.id) == 0


async def test_unknown_fields_are_ignored(client: Client) -> None:
    response = await register(
        client,
        "ann@example.com",
        id="usr_chosenbyme",
        email_verified=True,
        current_team_id="team_someoneelse",
        is_admin=True,
    )

    assert response.status_code == 201
    user = response.json()["user"]
    assert user["id"] != "usr_chosenbyme"
    assert user["email_verified"] is False
    assert user["current_team_id"] != "team_someoneelse"


async def test_register_creates_a_personal_team_and_makes_it_current(client: Client) -> None:
    body = (await register(client, "ann@example.com")).json()
    ann = client.as_user(body["token"])

    me = (await ann.get("/api/auth/user")).json()
    teams = (await ann.get("/api/teams")).json()["teams"]

    assert me["current_team_id"].startswith("team_")
    assert me["current_team_id"] == body["user"]["current_team_id"]
    assert len(teams) == 1
    assert teams[0]["id"] == me["current_team_id"]
    assert teams[0]["personal"] is True
    assert teams[0]["current"] is True
    assert teams[0]["role"] == "owner"
    assert teams[0]["member_count"] == 1


async def test_concurrent_registrations_of_one_email_create_one_account(
    client: Client, app: FastAPI
) -> None:
    responses = await asyncio.gather(
        register(client, "ann@example.com"), register(client, "ANN@example.com")
    )

    assert sorted(r.status_code for r in responses) == [201, 409]
    assert await count(app, User.id) == 1
    assert await count(app, Team.id) == 1
    assert await count(app, Membership.user_id) == 1
    assert await count(app, ApiToken.id) == 1
