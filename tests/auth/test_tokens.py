"""Bearer tokens: kept only as hashes, expiring, revoked one by one at logout."""

from __future__ import annotations

import hashlib
from datetime import timedelta

from fastapi import FastAPI
from sqlalchemy import inspect, update

from instapods.config import Settings
from instapods.kit.clock import utcnow
from instapods.models import ApiToken
from tests.auth.support import execute, login, rows, session_cookie, with_changes
from tests.fixtures.factories import Factory, running_app
from tests.fixtures.http import Client


async def test_tokens_are_stored_only_as_sha256_hashes_for_30_days(
    app: FastAPI, factory: Factory
) -> None:
    ann = await factory.user()

    [row] = await rows(app, ApiToken, ApiToken.user_id == ann.id)

    assert row.token_hash == hashlib.sha256(ann.token.encode()).hexdigest()
    secret = ann.token.removeprefix("ipt_")
    values = [str(getattr(row, c.key)) for c in inspect(ApiToken).column_attrs]
    assert not [v for v in values if secret in v or secret[:16] in v]
    assert row.expires_at - row.created_at == timedelta(days=30)


async def test_token_lifetime_follows_the_setting(settings: Settings) -> None:
    async with running_app(with_changes(settings, token_ttl_days=2)) as app:
        ann = await Factory(app).user(email="ann@example.com")
        async with Client.for_app(app) as client:
            response = await login(client, ann.email, ann.password)
        tokens = await rows(app, ApiToken, ApiToken.user_id == ann.id)

    assert response.status_code == 200
    assert int(session_cookie(response)["max-age"]) == 2 * 86400
    assert len(tokens) == 2
    assert {t.expires_at - t.created_at for t in tokens} == {timedelta(days=2)}


async def test_an_expired_token_is_refused(client: Client, app: FastAPI, factory: Factory) -> None:
    ann = await factory.user()
    assert (await client.as_user(ann.token).get("/api/auth/user")).status_code == 200

    past = utcnow() - timedelta(seconds=1)
    await execute(app, update(ApiToken).where(ApiToken.user_id == ann.id).values(expires_at=past))
    response = await client.as_user(ann.token).get("/api/auth/user")

    assert response.status_code == 401
    assert response.json() == {"error": "Invalid or expired token"}


async def test_logout_revokes_only_the_token_it_was_called_with(
    client: Client, factory: Factory
) -> None:
    ann = await factory.user()
    second = (await login(client, ann.email, ann.password)).json()["token"]

    response = await client.as_user(second).post("/api/auth/logout")

    assert response.status_code == 200
    assert response.json() == {"status": "logged_out"}
    cleared = session_cookie(response)
    assert cleared.value in ("", '""')
    assert int(cleared["max-age"]) == 0
    assert (await client.as_user(second).get("/api/auth/user")).status_code == 401
    assert (await client.as_user(second).post("/api/auth/logout")).status_code == 401
    assert (await client.as_user(ann.token).get("/api/auth/user")).status_code == 200


async def test_no_credentials_is_401(client: Client) -> None:
    response = await client.get("/api/auth/user")

    assert response.status_code == 401
    assert response.json() == {"error": "Authentication required"}


async def test_malformed_authorization_headers_are_401(client: Client, factory: Factory) -> None:
    ann = await factory.user()
    malformed = [
        ann.token,  # no scheme
        f"Basic {ann.token}",
        f"Token {ann.token}",
        f"Bearer{ann.token}",
        "Bearer",
        "Bearer    ",
        f"Bearer {ann.token} extra",
        f"Bearer {ann.token}x",
        "Bearer ipt_" + "A" * 43,
        "Bearer " + "x" * 600,
    ]
    for header in malformed:
        response = await client.get("/api/auth/user", headers={"Authorization": header})
        assert response.status_code == 401, header
        assert set(response.json()) == {"error"}, header

    scheme_in_any_case = await client.get(
        "/api/auth/user", headers={"Authorization": f"bEaReR {ann.token}"}
    )
    assert scheme_in_any_case.status_code == 200
