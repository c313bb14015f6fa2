"""A job exists only if the transaction that queued it commits, and wakes the worker at once."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from instapods.db import SessionDep
from instapods.errors import Conflict
from instapods.models import Job
from instapods.platform import Platform
from instapods.worker import JobContext, Registry, WorkerOptions, enqueue, jobs_for, transaction
from instapods.worker.queue import now
from tests.fixtures.http import Client
from tests.worker.support import FAST, Recorder, add_job, load, running_worker, wait_for

SLOW_POLL = replace(FAST, poll_interval=30.0)
"""A worker that would not look again for 30 s: only a wake-up makes it run a job in time."""


async def job_count(platform: Platform) -> int:
    async with platform.sessions() as session:
        count = await session.scalar(select(func.count()).select_from(Job))
    return count or 0


def counting(registry: Registry, recorder: Recorder, kind: str = "test.count") -> None:
    @registry.register(kind)
    async def handler(ctx: JobContext, payload: dict[str, Any]) -> None:
        recorder.record(ctx, payload)


async def test_a_committed_job_wakes_the_worker_and_runs(
    platform: Platform, registry: Registry, recorder: Recorder
) -> None:
    counting(registry, recorder)
    async with running_worker(platform, registry, SLOW_POLL) as worker:
        await asyncio.sleep(0.05)  # the worker's first pass found nothing; it now sleeps 30 s
        started = asyncio.get_running_loop().time()
        job_id = await add_job(platform, "test.count", {"n": 1}, subject="pod:pod_abc")
        job = await wait_for(platform, job_id, "succeeded", timeout=3)
        assert asyncio.get_running_loop().time() - started < 2
        assert worker.running == 0
    assert [(c.job_id, c.attempt, c.payload) for c in recorder.calls] == [(job_id, 1, {"n": 1})]
    assert job.attempts == 1
    assert job.finished_at is not None
    assert job.subject == "pod:pod_abc"
    assert job.locked_by is None
    assert job.locked_until is None


async def test_a_rolled_back_transaction_leaves_no_job(
    platform: Platform, registry: Registry, recorder: Recorder
) -> None:
    counting(registry, recorder)
    queued: list[str] = []

    async def queue_then_fail() -> None:
        async with transaction(platform.sessions) as session:
            queued.append((await enqueue(session, "test.count", {})).id)
            await session.flush()  # the row exists inside the transaction…
            raise RuntimeError("changed my mind")

    async with running_worker(platform, registry):
        with pytest.raises(RuntimeError, match="changed my mind"):
            await queue_then_fail()
        await asyncio.sleep(0.2)  # several polls
    assert await job_count(platform) == 0  # …and is gone with it
    async with platform.sessions() as session:
        assert await session.get(Job, queued[0]) is None
    assert recorder.calls == []


@pytest.fixture
def enqueueing_app(app: FastAPI) -> FastAPI:
    """The real app plus one route that queues a job in the request's transaction."""

    @app.post("/test/enqueue")
    async def enqueue_endpoint(session: SessionDep, fail: bool = False) -> dict[str, str]:
        job = await enqueue(session, "test.count", {"from": "request"})
        if fail:
            raise Conflict("refused after queueing")
        return {"id": job.id}

    return app


async def test_a_request_queues_its_job_only_when_it_succeeds(
    enqueueing_app: FastAPI, platform: Platform, registry: Registry, recorder: Recorder
) -> None:
    counting(registry, recorder)
    async with (
        Client.for_app(enqueueing_app) as client,
        running_worker(platform, registry, SLOW_POLL),
    ):
        await asyncio.sleep(0.05)
        refused = await client.post("/test/enqueue", params={"fail": "true"})
        assert refused.status_code == 409
        assert await job_count(platform) == 0

        accepted = await client.post("/test/enqueue")
        assert accepted.status_code == 200
        job = await wait_for(platform, accepted.json()["id"], "succeeded", timeout=3)
    assert job.payload == {"from": "request"}
    assert [c.job_id for c in recorder.calls] == [job.id]
    assert await job_count(platform) == 1


async def test_a_future_job_waits_for_its_time(
    platform: Platform, registry: Registry, recorder: Recorder
) -> None:
    counting(registry, recorder)
    async with running_worker(platform, registry):
        soon = asyncio.get_running_loop().time()
        async with transaction(platform.sessions) as session:
            job = await enqueue(session, "test.count", {}, run_at=now() + timedelta(seconds=0.4))
        await wait_for(platform, job.id, "succeeded")
    assert recorder.calls[0].at - soon >= 0.35


async def test_a_dedupe_key_keeps_one_unfinished_job(
    platform: Platform, registry: Registry, recorder: Recorder
) -> None:
    first = await add_job(platform, "test.count", {"try": 1}, dedupe_key="dns:example.com")
    second = await add_job(platform, "test.count", {"try": 2}, dedupe_key="dns:example.com")
    other = await add_job(platform, "test.count", {"try": 3}, dedupe_key="dns:example.org")
    assert second == first
    assert other != first
    assert (await load(platform, first)).payload == {"try": 1}

    counting(registry, recorder)
    async with running_worker(platform, registry):
        await wait_for(platform, first, "succeeded")
        await wait_for(platform, other, "succeeded")
        third = await add_job(platform, "test.count", {"try": 4}, dedupe_key="dns:example.com")
        assert third != first  # the key is free again once its job has finished
        await wait_for(platform, third, "succeeded")
    assert sorted(c.payload["try"] for c in recorder.calls) == [1, 3, 4]


async def test_concurrent_enqueues_with_one_dedupe_key_make_one_job(platform: Platform) -> None:
    """The second transaction's insert waits for the first one and then yields to it."""
    first_inserted = asyncio.Event()

    async def first() -> str:
        async with transaction(platform.sessions) as session:
            job = await enqueue(session, "test.count", {"who": "first"}, dedupe_key="k")
            first_inserted.set()
            await asyncio.sleep(0.2)  # still uncommitted while the second one tries
        return job.id

    async def second() -> str:
        await first_inserted.wait()
        async with transaction(platform.sessions) as session:
            job = await enqueue(session, "test.count", {"who": "second"}, dedupe_key="k")
        return job.id

    ids = await asyncio.gather(first(), second())
    assert ids[0] == ids[1]
    assert await job_count(platform) == 1


async def test_a_subjects_jobs_can_be_found(platform: Platform) -> None:
    ours = [await add_job(platform, "pod.provision", {}, subject="pod:pod_a") for _ in range(2)]
    await add_job(platform, "pod.provision", {}, subject="pod:pod_b")
    async with platform.sessions() as session:
        found = await jobs_for(session, "pod:pod_a")
    assert sorted(job.id for job in found) == sorted(ours)


async def test_a_job_needs_at_least_one_attempt(platform: Platform) -> None:
    async with platform.sessions() as session:
        with pytest.raises(ValueError, match="max_attempts"):
            await enqueue(session, "test.count", {}, max_attempts=0)


def test_options_default_to_production_values() -> None:
    options = WorkerOptions()
    assert options.poll_interval == 0.5
    assert [options.backoff(n) for n in (1, 2, 3)] == [5.0, 10.0, 20.0]
    assert options.backoff(30) == options.backoff_max
