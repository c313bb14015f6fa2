from __future__ import annotations

from tests.fixtures.factories import Factory
from tests.fixtures.http import Client


async def test_health_reports_the_database(client: Client, database_url: str) -> None:
    response = await client.get("/api/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"] == ("sqlite" if database_url.startswith("sqlite") else "postgresql")


async def test_factory_user_can_call_the_api(client: Client, factory: Factory) -> None:
    user = await factory.user(email="smoke@example.com")
    response = await client.as_user(user.token).get("/api/auth/user")
    assert response.status_code == 200
    assert response.json()["email"] == "smoke@example.com"
    assert response.json()["current_team_id"] == user.personal_team_id
