"""Helpers of the pods tests: pods made through the API, reached over real HTTP, rows read back.

Pods are real sandboxes: `running_pod` creates one through `POST /api/pods` and waits until the
job worker has provisioned it. Its address is the runtime's (`runtime.state(pod_id)`), reached
from the host as the edge would. Rows are read with the platform's own sessions.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select

from instapods.config import Settings
from instapods.models import Job, Pod, PodEvent
from instapods.platform import Platform
from instapods.runtime.base import PodState
from tests.auth.support import with_changes
from tests.fixtures.factories import running_app
from tests.fixtures.http import Client
from tests.fixtures.pods import delete_all_pods, wait_for_status

Body = dict[str, Any]


def platform_of(app: FastAPI) -> Platform:
    platform: Platform = app.state.platform
    return platform


async def create(api: Client, name: str, preset: str = "python", **body: Any) -> Body:
    """`POST /api/pods`, which must answer 202; the pod as it answered."""
    response = await api.post("/api/pods", json={"name": name, "preset": preset, **body})
    assert response.status_code == 202, response.text
    pod: Body = response.json()
    return pod


async def running_pod(api: Client, name: str, preset: str = "python", **body: Any) -> Body:
    """Create a pod and wait until it runs (the `worker` fixture must be running)."""
    await create(api, name, preset, **body)
    pod = await wait_for_status(api, name, {"running", "error"})
    assert pod["status"] == "running", pod
    return pod


async def state(app: FastAPI, pod_id: str) -> PodState:
    return await platform_of(app).runtime.state(pod_id)


async def address(app: FastAPI, pod_id: str) -> str:
    """Where the pod answers (its own IP), as the runtime reports it."""
    found = (await state(app, pod_id)).address
    assert found is not None
    return found


async def fetch(host: str, port: int, path: str = "/") -> httpx.Response:
    """A real HTTP request to a pod's address (no proxy, short timeout)."""
    async with httpx.AsyncClient(timeout=5, trust_env=False) as http:
        return await http.get(f"http://{host}:{port}{path}")


async def fetch_once_up(host: str, port: int, timeout: float = 10.0) -> httpx.Response:
    """`fetch` once the app listens again. The runtime reports a service `running` as soon as
    its process runs, before it listens, when it restarted one on its own (after a crash, or
    an offline resize)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return await fetch(host, port)
        except httpx.ConnectError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.05)


async def refuses(host: str, port: int) -> bool:
    try:
        await fetch(host, port)
    except httpx.ConnectError:
        return True
    return False


async def run(api: Client, name: str, command: str, **extra: Any) -> Body:
    """`POST /api/pods/{name}/exec`, which must answer 200; the result."""
    response = await api.post(f"/api/pods/{name}/exec", json={"command": command, **extra})
    assert response.status_code == 200, response.text
    result: Body = response.json()
    return result


async def sh(api: Client, name: str, command: str) -> str:
    """Run a command that must succeed in the pod; its stdout."""
    result = await run(api, name, command)
    assert result["exit_code"] == 0, result
    stdout: str = result["stdout"]
    return stdout


def event_types(events: Sequence[Body]) -> list[str]:
    return [str(event["type"]) for event in events]


class Rows:
    """Direct reads (and a few writes) of the pods tables, each in a transaction of its own."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    async def pod(self, name: str) -> Pod | None:
        """The row with this name, deleted or not (names are unique across teams)."""
        async with platform_of(self.app).sessions() as session:
            pod: Pod | None = await session.scalar(select(Pod).where(Pod.name == name))
            return pod

    async def counts(self) -> tuple[int, int, int]:
        """(pods, jobs, events) in the whole database."""
        async with platform_of(self.app).sessions() as session:
            found = []
            for model in (Pod, Job, PodEvent):
                found.append(
                    int(await session.scalar(select(func.count()).select_from(model)) or 0)
                )
            return found[0], found[1], found[2]

    async def events(self, pod_id: str) -> list[PodEvent]:
        async with platform_of(self.app).sessions() as session:
            rows = await session.scalars(select(PodEvent).where(PodEvent.pod_id == pod_id))
            return list(rows)

    async def update_pod(self, pod_id: str, **values: object) -> None:
        async with platform_of(self.app).sessions() as session, session.begin():
            row = await session.get(Pod, pod_id)
            assert row is not None
            for key, value in values.items():
                setattr(row, key, value)


@asynccontextmanager
async def serving(settings: Settings, **changes: Any) -> AsyncIterator[tuple[FastAPI, Client]]:
    """The app on the test's database with some settings changed (no job worker), and a client;
    every pod it made is removed from the host afterwards."""
    async with running_app(with_changes(settings, **changes)) as app:
        try:
            async with Client.for_app(app) as client:
                yield app, client
        finally:
            await delete_all_pods(app)
