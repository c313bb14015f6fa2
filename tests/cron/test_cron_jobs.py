"""Cron jobs and workers of a real pod: jobs run inside the pod when due; workers run as
supervised services."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI

from instapods.platform import Platform
from tests.fixtures.factories import Factory
from tests.fixtures.http import Client
from tests.fixtures.pods import wait_for_status


async def _pod(client: Client, factory: Factory, **custom: Any) -> tuple[Client, dict[str, Any]]:
    owner = await factory.user()
    api = client.as_user(owner.token)
    body = {"name": "cronny", "preset": "python", "customizations": custom}
    response = await api.post("/api/pods", json=body)
    assert response.status_code == 202, response.text
    return api, await wait_for_status(api, "cronny", {"running"})


async def test_a_due_cron_job_runs_inside_the_pod_and_logs_its_output(
    app: FastAPI, client: Client, factory: Factory, worker: None
) -> None:
    jobs = [
        {"schedule": "*/5 * * * *", "command": "date > ran.txt; echo cron says hi"},
        {"schedule": "0 3 * * *", "command": "touch never.txt"},
    ]
    api, _ = await _pod(client, factory, cron_jobs=jobs)
    platform: Platform = app.state.platform
    runs = await platform.cron.tick(datetime(2026, 11, 29, 10, 5, tzinfo=UTC))
    assert len(runs) == 1
    await asyncio.gather(*runs)

    check = await api.post("/api/pods/cronny/exec", json={"command": "ls"})
    assert "ran.txt" in check.json()["stdout"]
    assert "never.txt" not in check.json()["stdout"]
    logs = (await api.get("/api/pods/cronny/logs", params={"service": "cron"})).json()["lines"]
    assert [line["message"] for line in logs] == ["cron says hi"]


async def test_a_failing_cron_job_is_recorded_as_an_event(
    app: FastAPI, client: Client, factory: Factory, worker: None
) -> None:
    api, _ = await _pod(client, factory, cron_jobs=[{"schedule": "* * * * *", "command": "exit 3"}])
    platform: Platform = app.state.platform
    await asyncio.gather(*await platform.cron.tick(datetime(2026, 11, 29, 10, 6, tzinfo=UTC)))
    events = (await api.get("/api/pods/cronny/events", params={"type": "cron_failed"})).json()
    assert events["total"] == 1
    assert "exit 3" in events["events"][0]["message"]


async def test_workers_run_as_supervised_services(
    app: FastAPI, client: Client, factory: Factory, worker: None
) -> None:
    workers = [{"name": "ticker", "command": "while true; do echo tick; sleep 0.2; done"}]
    api, pod = await _pod(client, factory, workers=workers)
    platform: Platform = app.state.platform
    state = await platform.runtime.state(pod["id"])
    assert {s.name for s in state.services} == {"app", "worker-ticker"}
    assert all(s.running for s in state.services)
    await asyncio.sleep(1.0)
    logs = await api.get("/api/pods/cronny/logs", params={"service": "worker-ticker"})
    assert any(line["message"] == "tick" for line in logs.json()["lines"])
