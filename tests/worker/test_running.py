"""Running jobs: success, retries with backoff, failure and its hook, leases and heartbeats."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

from instapods.platform import Platform
from instapods.worker import JobContext, JobFailed, Registry
from tests.worker.support import FAST, Recorder, add_job, load, running_worker, wait_for


async def test_a_job_runs_once_and_succeeds(
    platform: Platform, registry: Registry, recorder: Recorder
) -> None:
    seen: list[JobContext] = []

    @registry.register("test.once")
    async def once(ctx: JobContext, payload: dict[str, Any]) -> None:
        recorder.record(ctx, payload)
        seen.append(ctx)

    async with running_worker(platform, registry):
        job_id = await add_job(platform, "test.once", {"pod": "pod_a"}, subject="pod:pod_a")
        job = await wait_for(platform, job_id, "succeeded")
        await asyncio.sleep(0.2)  # more polls: nothing runs it again
    assert len(recorder.calls) == 1
    assert (seen[0].job_id, seen[0].kind, seen[0].subject) == (job_id, "test.once", "pod:pod_a")
    assert (seen[0].attempt, seen[0].max_attempts, seen[0].platform) == (1, 5, platform)
    assert (job.status, job.attempts, job.last_error) == ("succeeded", 1, None)
    assert (await load(platform, job_id)).status == "succeeded"


async def test_a_failing_job_backs_off_then_fails_and_calls_on_failure(
    platform: Platform, registry: Registry, recorder: Recorder
) -> None:
    status_during_hook: list[str] = []

    async def on_failure(ctx: JobContext, payload: dict[str, Any], error: str) -> None:
        status_during_hook.append((await load(platform, ctx.job_id)).status)
        await recorder.on_failure(ctx, payload, error)

    @registry.register("test.boom", on_failure=on_failure)
    async def boom(ctx: JobContext, payload: dict[str, Any]) -> None:
        recorder.record(ctx, payload)
        raise RuntimeError(f"boom {ctx.attempt}")

    options = replace(FAST, backoff_base=0.1)
    async with running_worker(platform, registry, options):
        job_id = await add_job(platform, "test.boom", {"pod": "pod_a"}, max_attempts=3)
        job = await wait_for(platform, job_id, "failed")

    assert [c.attempt for c in recorder.calls] == [1, 2, 3]
    gaps = [b.at - a.at for a, b in zip(recorder.calls, recorder.calls[1:], strict=False)]
    assert gaps[0] >= 0.09  # backoff(1) = 0.1 s
    assert gaps[1] >= 0.19  # backoff(2) = 0.2 s
    assert (job.status, job.attempts) == ("failed", 3)
    assert job.last_error == "RuntimeError: boom 3"
    assert job.finished_at is not None
    assert recorder.failures == [(job_id, "RuntimeError: boom 3", {"pod": "pod_a"})]
    assert status_during_hook == ["running"]  # the hook runs before the job is marked failed


async def test_a_job_that_fails_then_succeeds_keeps_its_last_error(
    platform: Platform, registry: Registry, recorder: Recorder
) -> None:
    @registry.register("test.flaky", on_failure=recorder.on_failure)
    async def flaky(ctx: JobContext, payload: dict[str, Any]) -> None:
        recorder.record(ctx, payload)
        if ctx.attempt < 3:
            raise ConnectionError("not yet")

    async with running_worker(platform, registry):
        job = await wait_for(platform, await add_job(platform, "test.flaky", {}), "succeeded")
    assert (job.attempts, job.last_error) == (3, "ConnectionError: not yet")
    assert recorder.failures == []


async def test_job_failed_stops_retrying_at_once(
    platform: Platform, registry: Registry, recorder: Recorder
) -> None:
    @registry.register("test.refuse", on_failure=recorder.on_failure)
    async def refuse(ctx: JobContext, payload: dict[str, Any]) -> None:
        recorder.record(ctx, payload)
        raise JobFailed("the php preset is not available on this server")

    async with running_worker(platform, registry):
        job = await wait_for(platform, await add_job(platform, "test.refuse", {}), "failed")
    assert len(recorder.calls) == 1
    assert (job.attempts, job.last_error) == (1, "the php preset is not available on this server")
    assert recorder.failures[0][1] == "the php preset is not available on this server"


async def test_a_failing_on_failure_hook_is_recorded(
    platform: Platform, registry: Registry
) -> None:
    async def broken_hook(ctx: JobContext, payload: dict[str, Any], error: str) -> None:
        raise LookupError("pod vanished")

    @registry.register("test.doomed", on_failure=broken_hook)
    async def doomed(ctx: JobContext, payload: dict[str, Any]) -> None:
        raise JobFailed("no capacity")

    async with running_worker(platform, registry):
        job = await wait_for(platform, await add_job(platform, "test.doomed", {}), "failed")
    assert (
        job.last_error == "no capacity (and its on_failure hook failed: LookupError: pod vanished)"
    )


async def test_heartbeats_keep_a_long_job_past_its_lease(
    platform: Platform, registry: Registry, recorder: Recorder
) -> None:
    @registry.register("test.long")
    async def long(ctx: JobContext, payload: dict[str, Any]) -> None:
        recorder.record(ctx, payload)
        for _ in range(4):
            await asyncio.sleep(0.25)
            await ctx.heartbeat()

    async with running_worker(platform, registry, replace(FAST, lease=0.8)):
        job = await wait_for(platform, await add_job(platform, "test.long", {}), "succeeded")
    assert job.attempts == 1  # 1 s of work on a 0.8 s lease, never cancelled nor taken over
    assert len(recorder.calls) == 1


async def test_a_job_silent_past_its_lease_is_cancelled_and_counted(
    platform: Platform, registry: Registry, recorder: Recorder
) -> None:
    cancelled: list[str] = []

    @registry.register("test.stuck", on_failure=recorder.on_failure)
    async def stuck(ctx: JobContext, payload: dict[str, Any]) -> None:
        recorder.record(ctx, payload)
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.append(ctx.job_id)
            raise

    async with running_worker(platform, registry, replace(FAST, lease=0.6)):
        job_id = await add_job(platform, "test.stuck", {}, max_attempts=2)
        job = await wait_for(platform, job_id, "failed")
    assert cancelled == [job_id, job_id]
    assert job.attempts == 2
    assert job.last_error == "TimeoutError: no heartbeat within the 0.6s lease"
    assert [f[1] for f in recorder.failures] == [job.last_error]


async def test_the_concurrency_limit_holds(platform: Platform, registry: Registry) -> None:
    active, peak = 0, 0

    @registry.register("test.busy")
    async def busy(ctx: JobContext, payload: dict[str, Any]) -> None:
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        await asyncio.sleep(0.05)
        active -= 1

    ids = [await add_job(platform, "test.busy", {"n": n}) for n in range(12)]
    async with running_worker(platform, registry, replace(FAST, concurrency=3)):
        for job_id in ids:
            await wait_for(platform, job_id, "succeeded")
    assert peak == 3


async def test_a_worker_claims_only_the_kinds_it_knows(
    platform: Platform, registry: Registry, recorder: Recorder
) -> None:
    @registry.register("test.known")
    async def known(ctx: JobContext, payload: dict[str, Any]) -> None:
        recorder.record(ctx, payload)

    unknown = await add_job(platform, "test.unknown", {})
    async with running_worker(platform, registry):
        await wait_for(platform, await add_job(platform, "test.known", {}), "succeeded")
        await asyncio.sleep(0.1)
    job = await load(platform, unknown)
    assert (job.status, job.attempts) == ("queued", 0)  # left for a worker that knows it
