"""Jobs live in the database: they outlast the app that queued them and the worker that ran them."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta
from typing import Any

from instapods.config import Settings
from instapods.platform import Platform
from instapods.worker import JobContext, Registry
from instapods.worker.queue import now
from tests.fixtures.factories import running_app
from tests.worker.support import FAST, Recorder, add_job, load, running_worker, wait_for


def counting(registry: Registry, recorder: Recorder) -> None:
    @registry.register("test.durable")
    async def durable(ctx: JobContext, payload: dict[str, Any]) -> None:
        recorder.record(ctx, payload)


async def test_a_queued_job_survives_an_app_restart(
    settings: Settings, registry: Registry, recorder: Recorder
) -> None:
    counting(registry, recorder)
    async with running_app(settings) as first:
        platform: Platform = first.state.platform
        async with running_worker(platform, registry):
            run_at = now() + timedelta(seconds=0.3)
            job_id = await add_job(platform, "test.durable", {"pod": "pod_a"}, run_at=run_at)
        # the app stops before the job is due
    assert recorder.calls == []

    async with running_app(settings) as second:
        platform = second.state.platform
        assert (await load(platform, job_id)).status == "queued"
        async with running_worker(platform, registry):
            job = await wait_for(platform, job_id, "succeeded")
    assert [(c.job_id, c.payload) for c in recorder.calls] == [(job_id, {"pod": "pod_a"})]
    assert job.attempts == 1


async def test_a_job_interrupted_by_a_stop_is_given_back_and_resumed(
    settings: Settings, registry: Registry, recorder: Recorder
) -> None:
    started = asyncio.Event()
    first_run = True

    @registry.register("test.slow")
    async def slow(ctx: JobContext, payload: dict[str, Any]) -> None:
        nonlocal first_run
        recorder.record(ctx, payload)
        if first_run:
            first_run = False
            started.set()
            await asyncio.sleep(30)  # still working when the server is told to stop

    async with running_app(settings) as first:
        platform: Platform = first.state.platform
        async with running_worker(platform, registry, replace(FAST, stop_grace=0.1)):
            job_id = await add_job(platform, "test.slow", {})
            await started.wait()
        job = await load(platform, job_id)
        assert (job.status, job.attempts, job.locked_by) == ("queued", 0, None)

    async with running_app(settings) as second:
        platform = second.state.platform
        async with running_worker(platform, registry):
            job = await wait_for(platform, job_id, "succeeded")
    assert [c.attempt for c in recorder.calls] == [1, 1]  # the interrupted attempt was refunded
    assert job.attempts == 1
