"""What `POST /api/pods` refuses, and that a refused create leaves nothing behind.

Bad names, presets, plans and regions are 400; a preset whose runtime the host lacks is 400 and
says what to install; a name taken (in any team) or reserved after a delete is 409; a full
server is 503. After each refusal there is no new pod row, no job and no event. No test here
needs a running pod, so none runs the job worker: pods stay `creating`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI

from instapods.config import Settings
from instapods.kit.clock import utcnow
from tests.fixtures.errors import error_of, fields_of
from tests.fixtures.factories import Factory
from tests.fixtures.http import Client
from tests.pods.support import Body, Rows, create, platform_of, serving

BAD_NAMES = {
    "uppercase": "MyApp",
    "leading digit": "1app",
    "leading hyphen": "-app",
    "trailing hyphen": "app-",
    "64 characters": "a" * 64,
    "reserved": "api",
    "reserved too": "www",
    "empty": "",
    "underscore": "my_app",
    "dot": "my.app",
    "double hyphen": "my--app",
    "space": "my app",
    "not a string": 42,
}


async def refused(api: Client, rows: Rows, body: Body, status: int) -> dict[str, Any]:
    """POST the body; it must fail with `status` and the error shape, and add no row."""
    before = await rows.counts()
    response = await api.post("/api/pods", json=body)
    assert response.status_code == status, (body, response.text)
    error_of(response.json())
    assert await rows.counts() == before, f"{body} left rows behind"
    answer: dict[str, Any] = response.json()
    return answer


async def test_bad_names_are_400_with_details(api: Client, rows: Rows) -> None:
    for why, name in BAD_NAMES.items():
        body = await refused(api, rows, {"name": name, "preset": "python"}, 400)
        assert fields_of(body) == ["name"], why
    missing = await refused(api, rows, {"preset": "python"}, 400)
    assert missing["details"] == [{"field": "name", "message": "This field is required"}]

    for name in ("a", "a" * 63, "my-app-2", "n0"):  # the edges of the rule are fine
        assert (await create(api, name))["name"] == name


async def test_unknown_preset_plan_region_or_server_is_400(
    api: Client, app: FastAPI, rows: Rows
) -> None:
    cases = [
        ({"preset": "cobol"}, ["cobol", "static", "php", "nodejs", "python"]),
        ({"plan_slug": "gigantic"}, ["gigantic", "launch", "build", "turbo"]),
        ({"region": "mars"}, ["mars", "local"]),
        ({"server_id": "srv_nowhere"}, ["srv_nowhere"]),
    ]
    for change, mentioned in cases:
        body = await refused(api, rows, {"name": "fine", "preset": "python", **change}, 400)
        for word in mentioned:
            assert word in body["error"], (change, body)
    wrong: list[Body] = [{"preset": ""}, {"preset": None}, {"plan_slug": "x" * 33}]
    for change in wrong:
        body = await refused(api, rows, {"name": "fine", "preset": "python", **change}, 400)
        assert fields_of(body) == list(change)
    server_id = platform_of(app).server.id
    pod = await create(api, "fine", region="local", server_id=server_id, plan_slug="build")
    assert (pod["region"], pod["server_id"], pod["plan_slug"]) == ("local", server_id, "build")


async def test_a_preset_whose_runtime_the_host_lacks_says_what_to_install(
    api: Client, app: FastAPI, rows: Rows, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtimes = platform_of(app).runtimes
    monkeypatch.delitem(runtimes, "php")
    monkeypatch.delitem(runtimes, "node")
    php = await refused(api, rows, {"name": "fine", "preset": "php"}, 400)
    assert "php" in php["error"]
    assert "apt-get install php-fpm" in php["error"]
    node = await refused(api, rows, {"name": "fine", "preset": "nodejs"}, 400)
    assert "apt-get install nodejs" in node["error"]
    assert (await create(api, "fine", "static"))["preset"] == "static"  # needs nginx only

    monkeypatch.delitem(runtimes, "nginx")
    static = await refused(api, rows, {"name": "other", "preset": "static"}, 400)
    assert "nginx" in static["error"]
    assert "install" in static["error"]


async def test_a_taken_name_is_409_in_any_team(
    api: Client, client: Client, factory: Factory, rows: Rows
) -> None:
    await create(api, "taken")
    await refused(api, rows, {"name": "taken", "preset": "static"}, 409)
    stranger = client.as_user((await factory.user()).token)
    body = await refused(stranger, rows, {"name": "taken", "preset": "python"}, 409)
    assert "taken" in body["error"]


async def test_a_deleted_pods_name_is_reserved_for_7_days(
    api: Client, client: Client, factory: Factory, rows: Rows
) -> None:
    first = await create(api, "short-lived")
    deleted = await api.delete("/api/pods/short-lived")
    assert deleted.status_code == 200
    body = await refused(api, rows, {"name": "short-lived", "preset": "python"}, 409)
    assert "7 days" in body["error"]
    stranger = client.as_user((await factory.user()).token)
    await refused(stranger, rows, {"name": "short-lived", "preset": "python"}, 409)

    await rows.update_pod(first["id"], deleted_at=utcnow() - timedelta(days=6, hours=23))
    await refused(stranger, rows, {"name": "short-lived", "preset": "python"}, 409)

    await rows.update_pod(first["id"], deleted_at=utcnow() - timedelta(days=8))
    second = await create(stranger, "short-lived", "static")
    assert second["id"] != first["id"]
    row = await rows.pod("short-lived")
    assert row is not None
    assert (row.id, row.deleted_at) == (second["id"], None)
    assert await rows.events(first["id"]) == []  # the old pod is forgotten with its events
    assert (await api.get("/api/pods")).json()["total"] == 0
    assert (await stranger.get("/api/pods/short-lived")).json()["id"] == second["id"]


async def test_a_full_server_is_503_until_a_pod_goes(settings: Settings) -> None:
    async with serving(settings, max_pods=2) as (app, client):
        rows = Rows(app)
        api = client.as_user((await Factory(app).user()).token)
        await create(api, "one")
        await create(api, "two")
        body = await refused(api, rows, {"name": "three", "preset": "python"}, 503)
        assert "full" in body["error"]
        assert (await api.delete("/api/pods/one")).status_code == 200
        await create(api, "three")  # a deleted pod no longer counts


async def test_the_hosts_memory_times_the_overcommit_caps_the_plans(settings: Settings) -> None:
    # 1024 MB x 1.5: room for three launch pods (512 MB), never for a build pod (2048 MB).
    async with serving(settings, host_memory_mb=1024, memory_overcommit=1.5) as (app, client):
        rows = Rows(app)
        api = client.as_user((await Factory(app).user()).token)
        big = await refused(
            api, rows, {"name": "big", "preset": "python", "plan_slug": "build"}, 503
        )
        assert "memory" in big["error"]
        for name in ("one", "two", "three"):
            await create(api, name)
        await refused(api, rows, {"name": "four", "preset": "python"}, 503)


async def test_customizations_are_validated(api: Client, rows: Rows) -> None:
    def worker(name: str, command: str = "sleep 1000") -> dict[str, str]:
        return {"name": name, "command": command}

    def cron(schedule: str, command: str = "echo hi") -> dict[str, str]:
        return {"schedule": schedule, "command": command}

    cases: list[tuple[Body, str]] = [
        ({"cron_jobs": [cron("every minute")]}, "customizations.cron_jobs.0.schedule"),
        ({"cron_jobs": [cron("* * * *")]}, "customizations.cron_jobs.0.schedule"),
        ({"cron_jobs": [cron("61 * * * *")]}, "customizations.cron_jobs.0.schedule"),
        ({"cron_jobs": [cron("* * * * 8")]}, "customizations.cron_jobs.0.schedule"),
        ({"cron_jobs": [cron("@hourly", "")]}, "customizations.cron_jobs.0.command"),
        ({"cron_jobs": [cron("@hourly")] * 51}, "customizations.cron_jobs"),
        ({"workers": [worker("queue"), worker("queue")]}, "customizations.workers"),
        ({"workers": [worker("Queue")]}, "customizations.workers.0.name"),
        ({"workers": [worker("q" * 33)]}, "customizations.workers.0.name"),
        ({"workers": [worker("queue", "")]}, "customizations.workers.0.command"),
        ({"workers": [worker(f"w{i}") for i in range(11)]}, "customizations.workers"),
        ({"env_vars": {"1ABC": "x"}}, "customizations.env_vars"),
        ({"env_vars": {"MY-VAR": "x"}}, "customizations.env_vars"),
        ({"env_vars": {"": "x"}}, "customizations.env_vars"),
        ({"env_vars": {"NUL": "a\0b"}}, "customizations.env_vars"),
        ({"env_vars": {"BIG": "x" * (32 * 1024 + 1)}}, "customizations.env_vars"),
        ({"env_vars": {"NUMBER": 1}}, "customizations.env_vars.NUMBER"),
    ]
    for custom, field in cases:
        body = {"name": "custom", "preset": "python", "customizations": custom}
        answer = await refused(api, rows, body, 400)
        assert fields_of(answer) == [field], (custom, answer)

    accepted = {
        "env_vars": {"_UNDER": "", "Mixed_Case9": "x" * 32 * 1024},
        "cron_jobs": [cron("@hourly"), cron("*/15 9-17 * jan-jun mon-fri"), cron("0 0 1,15 * 7")],
        "workers": [worker("q"), worker("a" + "-" * 30 + "z")],
    }
    pod = await create(api, "custom", customizations=accepted)
    assert pod["customizations"] == accepted


async def test_malformed_bodies_are_400(api: Client, rows: Rows) -> None:
    before = await rows.counts()
    broken = await api.post(
        "/api/pods", content=b'{"name": "x",', headers={"Content-Type": "application/json"}
    )
    assert broken.status_code == 400
    assert broken.json() == {"error": "The request body is not valid JSON"}
    bodies: list[object] = [[], "pod", {"name": "ok", "preset": "python", "description": "d" * 501}]
    for body in bodies:
        response = await api.post("/api/pods", json=body)
        assert response.status_code == 400, body
        error_of(response.json())
    assert await rows.counts() == before


async def test_unknown_fields_are_ignored(api: Client) -> None:
    pod = await create(
        api,
        "relaxed",
        colour="blue",
        customizations={"env_vars": {"A": "1"}, "sidecars": ["x"]},
    )
    assert "colour" not in pod
    assert pod["customizations"] == {"env_vars": {"A": "1"}, "cron_jobs": [], "workers": []}
