"""Two workers on one database (two engines, as two processes would have) never share a job."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import replace
from functools import partial
from typing import Any

from sqlalchemy import func, select

from instapods.config import Settings
from instapods.models import Job
from instapods.platform import Platform
from instapods.worker import JobContext, Registry, enqueue, transaction
from tests.fixtures.factories import running_app
from tests.worker.support import FAST, eventually, running_worker

JOBS = 300


def counting(runs: Counter[str], by_worker: Counter[str], worker: str) -> Registry:
    registry = Registry()

    @registry.register("test.once")
    async def once(ctx: JobContext, payload: dict[str, Any]) -> None:
        runs[ctx.job_id] += 1
        by_worker[worker] += 1
        await asyncio.sleep(0.001)  # let the other worker's claims interleave

    return registry


async def test_two_workers_never_run_the_same_job_twice(
    settings: Settings, platform: Platform
) -> None:
    runs: Counter[str] = Counter()
    by_worker: Counter[str] = Counter()
    async with transaction(platform.sessions) as session:
        ids = [(await enqueue(session, "test.once", {"n": n})).id for n in range(JOBS)]

    options = replace(FAST, concurrency=8, poll_interval=0.01)
    async with (
        running_app(settings) as other_app,
        running_worker(platform, counting(runs, by_worker, "a"), options),
        running_worker(other_app.state.platform, counting(runs, by_worker, "b"), options),
    ):
        await eventually(partial(_all_done, platform), "every job succeeded", timeout=30)

    assert sorted(runs) == sorted(ids)
    assert set(runs.values()) == {1}
    assert sum(by_worker.values()) == JOBS


async def _all_done(platform: Platform) -> bool:
    async with platform.sessions() as session:
        statement = select(func.count()).where(Job.status != "succeeded")
        return await session.scalar(statement) == 0
