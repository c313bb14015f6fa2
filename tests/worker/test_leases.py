"""A worker that dies mid-job loses its lease: the job is resumed elsewhere, or failed when its
attempts are spent, and the dead worker's late writes change nothing."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from functools import partial
from typing import Any

from sqlalchemy import update

from instapods.models import Job
from instapods.platform import Platform
from instapods.worker import JobContext, LeaseLost, Registry
from instapods.worker import repository as jobs
from instapods.worker.queue import now
from tests.worker.support import Recorder, add_job, eventually, load, running_worker, wait_for

SHORT_LEASE = timedelta(seconds=0.3)


async def abandon(platform: Platform, kind: str, worker: str = "crashed:1:dead") -> jobs.Claimed:
    """Claim the next job as a worker that then dies without a word (a crash, kill -9)."""
    [claimed] = await jobs.claim(platform.sessions, worker, [kind], 1, SHORT_LEASE, now())
    return claimed


async def test_a_crashed_workers_job_is_resumed_by_another_worker(
    platform: Platform, registry: Registry, recorder: Recorder
) -> None:
    @registry.register("test.resume")
    async def resume(ctx: JobContext, payload: dict[str, Any]) -> None:
        recorder.record(ctx, payload)

    job_id = await add_job(platform, "test.resume", {"pod": "pod_a"})
    claimed = await abandon(platform, "test.resume")
    assert (claimed.id, claimed.attempt) == (job_id, 1)
    running = await load(platform, job_id)
    assert (running.status, running.locked_by) == ("running", "crashed:1:dead")
    assert running.locked_until is not None

    async with running_worker(platform, registry, name="survivor:2:live"):
        job = await wait_for(platform, job_id, "succeeded")

    assert [(c.job_id, c.attempt) for c in recorder.calls] == [(job_id, 2)]
    assert recorder.calls[0].payload == {"pod": "pod_a"}
    assert job.attempts == 2
    assert job.last_error == "lease expired: worker crashed:1:dead stopped during attempt 1"


async def test_a_crash_on_the_last_attempt_fails_the_job_and_calls_on_failure(
    platform: Platform, registry: Registry, recorder: Recorder
) -> None:
    @registry.register("test.last", on_failure=recorder.on_failure)
    async def last(ctx: JobContext, payload: dict[str, Any]) -> None:
        recorder.record(ctx, payload)

    job_id = await add_job(platform, "test.last", {"pod": "pod_b"}, max_attempts=1)
    await abandon(platform, "test.last")

    async with running_worker(platform, registry):
        job = await wait_for(platform, job_id, "failed")

    error = "lease expired: worker crashed:1:dead stopped during attempt 1"
    assert recorder.calls == []  # not run again: its only attempt is spent
    assert (job.attempts, job.last_error) == (1, error)
    assert recorder.failures == [(job_id, error, {"pod": "pod_b"})]


async def test_a_job_is_not_taken_over_before_its_lease_runs_out(
    platform: Platform, registry: Registry, recorder: Recorder
) -> None:
    @registry.register("test.patient")
    async def patient(ctx: JobContext, payload: dict[str, Any]) -> None:
        recorder.record(ctx, payload)

    job_id = await add_job(platform, "test.patient", {})
    [claimed] = await jobs.claim(
        platform.sessions, "slow:1:alive", ["test.patient"], 1, timedelta(seconds=30), now()
    )
    async with running_worker(platform, registry):
        await asyncio.sleep(0.3)
    job = await load(platform, job_id)
    assert (job.status, job.locked_by) == ("running", "slow:1:alive")
    assert recorder.calls == []
    assert await jobs.succeed(platform.sessions, claimed, "slow:1:alive", now())
    assert (await load(platform, job_id)).status == "succeeded"


async def test_a_worker_that_lost_its_lease_cannot_record_an_outcome(
    platform: Platform, registry: Registry, recorder: Recorder
) -> None:
    @registry.register("test.fenced")
    async def fenced(ctx: JobContext, payload: dict[str, Any]) -> None:
        recorder.record(ctx, payload)

    job_id = await add_job(platform, "test.fenced", {})
    stale = await abandon(platform, "test.fenced", worker="paused:1:gc")
    async with running_worker(platform, registry):
        await wait_for(platform, job_id, "succeeded")

    # the paused worker wakes up and reports, too late
    assert not await jobs.fail(platform.sessions, stale, "paused:1:gc", now(), "late failure")
    assert not await jobs.retry(platform.sessions, stale, "paused:1:gc", now(), "late retry")
    assert not await jobs.extend(platform.sessions, stale, "paused:1:gc", now())
    job = await load(platform, job_id)
    assert (job.status, job.attempts) == ("succeeded", 2)


async def test_a_heartbeat_after_a_takeover_raises_lease_lost(
    platform: Platform, registry: Registry
) -> None:
    taken_over = asyncio.Event()
    outcome: list[str] = []

    @registry.register("test.taken")
    async def taken(ctx: JobContext, payload: dict[str, Any]) -> None:
        await taken_over.wait()
        try:
            await ctx.heartbeat()
        except LeaseLost:
            outcome.append("lease lost")
            raise

    job_id = await add_job(platform, "test.taken", {})
    async with running_worker(platform, registry):
        await wait_for(platform, job_id, "running")
        async with platform.sessions() as session, session.begin():
            await session.execute(
                update(Job).where(Job.id == job_id).values(locked_by="other:9:worker")
            )
        taken_over.set()
        await eventually(partial(_true, outcome), "the heartbeat raised")
        await asyncio.sleep(0.1)  # the worker has had its chance to (wrongly) write
    job = await load(platform, job_id)
    assert outcome == ["lease lost"]
    assert (job.status, job.locked_by, job.last_error) == ("running", "other:9:worker", None)


async def _true(items: list[str]) -> bool:
    return bool(items)
