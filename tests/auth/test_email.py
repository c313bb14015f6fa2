"""Verification and password-reset mail, end to end through a real SMTP server (aiosmtpd).

Mail leaves in the background after the commit, so each test drains the postman before it
reads the inbox.
"""

from __future__ import annotations

import asyncio
import hashlib
from datetime import timedelta

import pytest
from fastapi import FastAPI
from sqlalchemy import update

from instapods.config import Settings
from instapods.kit.clock import utcnow
from instapods.models import ApiToken, EmailToken
from tests.auth.support import (
    ORIGIN,
    Inbox,
    execute,
    free_port,
    link_in,
    login,
    platform_of,
    register,
    rows,
)
from tests.fixtures.factories import Factory, running_app
from tests.fixtures.http import Client

NEW_PASSWORD = "a brand new passphrase"


@pytest.fixture
def settings(settings: Settings, smtp: Inbox) -> Settings:
    """The usual settings, with mail going to the test's SMTP server."""
    return settings.model_copy(update={"smtp_host": "127.0.0.1", "smtp_port": smtp.port})


async def delivered(app: FastAPI, smtp: Inbox, to: str) -> list[tuple[str, str]]:
    """Wait for mail in flight, then the (subject, token) of every message to `to`."""
    await platform_of(app).postman.drain()
    return [(str(m["Subject"]), link_in(m)[1]) for m in smtp.to(to)]


async def forgot(client: Client, email: str) -> dict[str, str]:
    response = await client.post("/api/auth/forgot-password", json={"email": email})
    assert response.status_code == 200
    body: dict[str, str] = response.json()
    return body


async def reset(client: Client, token: str, password: str = NEW_PASSWORD) -> int:
    response = await client.post(
        "/api/auth/reset-password", json={"token": token, "password": password}
    )
    return response.status_code


async def test_registration_mails_a_verification_link_that_works_once(
    client: Client, app: FastAPI, smtp: Inbox
) -> None:
    token = (await register(client, "ann@example.com")).json()["token"]
    ann = client.as_user(token)
    await platform_of(app).postman.drain()

    [message] = smtp.messages
    assert message["To"] == "ann@example.com"
    assert message["Subject"] == "Verify your email address"
    link, secret = link_in(message)
    assert link.startswith(f"{ORIGIN}/verify-email?token=")
    assert (await ann.get("/api/auth/user")).json()["email_verified"] is False

    verified = await client.post("/api/auth/verify-email", json={"token": secret})
    again = await client.post("/api/auth/verify-email", json={"token": secret})
    resend = await ann.post("/api/auth/resend-verification")

    assert verified.status_code == 200
    assert verified.json() == {"status": "verified"}
    assert (await ann.get("/api/auth/user")).json()["email_verified"] is True
    assert again.status_code == 400
    assert set(again.json()) == {"error"}
    assert resend.status_code == 400
    assert resend.json() == {"error": "This email address is already verified"}


async def test_the_mailed_token_is_stored_only_as_a_hash(
    client: Client, app: FastAPI, smtp: Inbox
) -> None:
    user_id = (await register(client, "ann@example.com")).json()["user"]["id"]
    [(_, secret)] = await delivered(app, smtp, "ann@example.com")

    [row] = await rows(app, EmailToken, EmailToken.user_id == user_id)

    assert row.purpose == "verify_email"
    assert row.token_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert row.expires_at - row.created_at == timedelta(hours=72)


async def test_resending_verification_replaces_the_earlier_link(
    client: Client, app: FastAPI, smtp: Inbox
) -> None:
    ann = client.as_user((await register(client, "ann@example.com")).json()["token"])
    [(_, first)] = await delivered(app, smtp, "ann@example.com")

    resend = await ann.post("/api/auth/resend-verification")
    [_, (subject, second)] = await delivered(app, smtp, "ann@example.com")

    assert resend.json() == {"status": "sent"}
    assert subject == "Verify your email address"
    assert second != first
    assert (await client.post("/api/auth/verify-email", json={"token": first})).status_code == 400
    assert (await client.post("/api/auth/verify-email", json={"token": second})).status_code == 200


async def test_a_made_up_verification_token_is_400(client: Client) -> None:
    for token in ["nonsense", "ipt_" + "A" * 43, "x" * 512]:
        response = await client.post("/api/auth/verify-email", json={"token": token})
        assert response.status_code == 400, token
        assert set(response.json()) == {"error"}


async def test_forgot_password_mails_only_existing_accounts_and_answers_the_same(
    client: Client, app: FastAPI, smtp: Inbox, factory: Factory
) -> None:
    await factory.user(email="ann@example.com")

    known = await forgot(client, " Ann@Example.com")
    unknown = await forgot(client, "nobody@example.com")
    await platform_of(app).postman.drain()

    assert known == unknown == {"status": "sent"}
    [message] = smtp.messages
    assert message["To"] == "ann@example.com"
    assert message["Subject"] == "Reset your password"
    assert link_in(message)[0].startswith(f"{ORIGIN}/reset-password?token=")


async def test_reset_password_sets_the_password_and_signs_out_everywhere(
    client: Client, app: FastAPI, smtp: Inbox, factory: Factory
) -> None:
    ann = await factory.user(email="ann@example.com", verified=False)
    second = (await login(client, ann.email, ann.password)).json()["token"]
    await forgot(client, ann.email)
    [(_, secret)] = await delivered(app, smtp, ann.email)

    response = await client.post(
        "/api/auth/reset-password", json={"token": secret, "password": NEW_PASSWORD}
    )

    assert response.status_code == 200
    assert response.json() == {"status": "password_reset"}
    for token in (ann.token, second):
        assert (await client.as_user(token).get("/api/auth/user")).status_code == 401
    assert (await login(client, ann.email, ann.password)).status_code == 401
    fresh = await login(client, ann.email, NEW_PASSWORD)
    assert fresh.status_code == 200
    assert fresh.json()["user"]["email_verified"] is True  # the mail reached its owner
    assert await reset(client, secret, "yet another password") == 400


async def test_a_reset_link_lasts_one_hour(
    client: Client, app: FastAPI, smtp: Inbox, factory: Factory
) -> None:
    ann = await factory.user(email="ann@example.com")
    await forgot(client, ann.email)
    [(_, secret)] = await delivered(app, smtp, ann.email)
    [row] = await rows(app, EmailToken, EmailToken.purpose == "reset_password")
    assert row.expires_at - row.created_at == timedelta(hours=1)

    an_hour_ago = utcnow() - timedelta(minutes=61)
    await execute(
        app,
        update(EmailToken)
        .where(EmailToken.id == row.id)
        .values(created_at=an_hour_ago, expires_at=an_hour_ago + timedelta(hours=1)),
    )

    assert await reset(client, secret) == 400
    assert (await login(client, ann.email, ann.password)).status_code == 200


async def test_reset_link_lifetime_follows_the_setting(settings: Settings, smtp: Inbox) -> None:
    short = settings.model_copy(update={"reset_ttl_minutes": 5})
    async with running_app(short) as app, Client.for_app(app) as client:
        ann = await Factory(app).user(email="ann@example.com")
        await forgot(client, ann.email)
        await delivered(app, smtp, ann.email)
        [row] = await rows(app, EmailToken, EmailToken.purpose == "reset_password")

    assert row.expires_at - row.created_at == timedelta(minutes=5)


async def test_a_newer_reset_mail_voids_the_older_link(
    client: Client, app: FastAPI, smtp: Inbox, factory: Factory
) -> None:
    ann = await factory.user(email="ann@example.com")
    await forgot(client, ann.email)
    await forgot(client, ann.email)
    [(_, older), (_, newer)] = await delivered(app, smtp, ann.email)

    assert await reset(client, older) == 400
    assert await reset(client, newer) == 200


async def test_a_reset_token_cannot_verify_an_email_or_the_reverse(
    client: Client, app: FastAPI, smtp: Inbox
) -> None:
    await register(client, "ann@example.com")
    [(_, verification)] = await delivered(app, smtp, "ann@example.com")
    await forgot(client, "ann@example.com")
    [_, (_, reset_token)] = await delivered(app, smtp, "ann@example.com")

    assert await reset(client, verification) == 400
    wrong = await client.post("/api/auth/verify-email", json={"token": reset_token})
    assert wrong.status_code == 400
    assert await reset(client, reset_token) == 200


async def test_registration_succeeds_while_the_smtp_server_is_down(
    settings: Settings, smtp: Inbox
) -> None:
    nowhere = settings.model_copy(update={"smtp_port": free_port()})
    async with running_app(nowhere) as app, Client.for_app(app) as client:
        response = await register(client, "ann@example.com")
        await platform_of(app).postman.drain()
        tokens = await rows(app, ApiToken)

    assert response.status_code == 201
    assert len(tokens) == 1
    assert smtp.messages == []


async def test_a_reset_link_used_twice_at_once_works_once(
    client: Client, app: FastAPI, smtp: Inbox, factory: Factory
) -> None:
    ann = await factory.user(email="ann@example.com")
    await forgot(client, ann.email)
    [(_, secret)] = await delivered(app, smtp, ann.email)

    statuses = await asyncio.gather(
        reset(client, secret, "first new password"), reset(client, secret, "second new password")
    )

    assert sorted(statuses) == [200, 400]


async def test_a_verification_link_used_twice_at_once_works_once(
    client: Client, app: FastAPI, smtp: Inbox
) -> None:
    await register(client, "ann@example.com")
    [(_, secret)] = await delivered(app, smtp, "ann@example.com")

    responses = await asyncio.gather(
        *(client.post("/api/auth/verify-email", json={"token": secret}) for _ in range(2))
    )

    assert sorted(r.status_code for r in responses) == [200, 400]
