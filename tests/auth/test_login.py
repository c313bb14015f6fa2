"""POST /api/auth/login: a new token and cookie; one answer for every kind of bad credentials."""

from __future__ import annotations

from tests.auth.support import login, session_cookie
from tests.fixtures.factories import Factory
from tests.fixtures.http import Client

INVALID = {"error": "Invalid email or password"}


async def test_login_returns_a_new_token_and_sets_the_cookie(
    client: Client, factory: Factory
) -> None:
    ann = await factory.user(email="ann@example.com")

    response = await login(client, "  ANN@Example.com ", ann.password)  # normalised as at sign-up

    assert response.status_code == 200
    body = response.json()
    assert body["user"]["id"] == ann.id
    assert body["user"]["current_team_id"] == ann.personal_team_id
    assert body["token"].startswith("ipt_")
    assert body["token"] != ann.token
    cookie = session_cookie(response)
    assert cookie.value == body["token"]
    assert cookie["httponly"] is True
    assert cookie["samesite"].lower() == "lax"
    assert not cookie["secure"]
    me = await client.as_user(body["token"]).get("/api/auth/user")
    assert me.json()["id"] == ann.id


async def test_wrong_password_and_unknown_email_get_the_same_answer(
    client: Client, factory: Factory
) -> None:
    ann = await factory.user(email="ann@example.com")

    wrong_password = await login(client, "ann@example.com", ann.password + "!")
    unknown_email = await login(client, "nobody@example.com", ann.password)

    assert wrong_password.status_code == unknown_email.status_code == 401
    assert wrong_password.json() == unknown_email.json() == INVALID
    assert wrong_password.content == unknown_email.content
    assert "set-cookie" not in wrong_password.headers
    assert "set-cookie" not in unknown_email.headers
