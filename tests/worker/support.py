"""Helpers of the worker tests: fast worker options, a running worker, waiting for a job."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from instapods.models import Job
from instapods.platform import Platform
from instapods.worker import JobContext, Registry, Worker, WorkerOptions, enqueue, transaction

FAST = WorkerOptions(
    concurrency=4,
    poll_interval=0.05,
    lease=5.0,
    backoff_base=0.05,
    backoff_max=1.0,
    stop_grace=2.0,
)


@asynccontextmanager
async def running_worker(
    platform: Platform,
    registry: Registry,
    options: WorkerOptions = FAST,
    name: str | None = None,
) -> AsyncIterator[Worker]:
    worker = Worker(platform, registry, options, name=name)
    await worker.start()
    try:
        yield worker
    finally:
        await worker.stop()


async def add_job(platform: Platform, kind: str, payload: dict[str, Any], **options: Any) -> str:
    """Enqueue in a transaction of its own (committed, so local workers wake)."""
    async with transaction(platform.sessions) as session:
        job = await enqueue(session, kind, payload, **options)
    return job.id


async def load(platform: Platform, job_id: str) -> Job:
    async with platform.sessions() as session:
        job = await session.get(Job, job_id)
    assert job is not None, job_id
    return job


async def eventually(check: Callable[[], Awaitable[bool]], what: str, timeout: float = 10) -> None:
    """Poll `check` (the database, usually) until it holds; fail after `timeout` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        if await check():
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{what}: not within {timeout}s")
        await asyncio.sleep(0.02)


async def wait_for(platform: Platform, job_id: str, *statuses: str, timeout: float = 10) -> Job:
    """Poll the table until the job reaches one of `statuses`."""

    async def reached() -> bool:
        return (await load(platform, job_id)).status in statuses

    await eventually(reached, f"job {job_id} {' or '.join(statuses)}", timeout)
    return await load(platform, job_id)


@dataclass
class Call:
    job_id: str
    attempt: int
    payload: dict[str, Any]
    at: float


@dataclass
class Recorder:
    """What a test handler saw: one `Call` per run, and the failures reported to on_failure."""

    calls: list[Call] = field(default_factory=list)
    failures: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)

    def record(self, ctx: JobContext, payload: dict[str, Any]) -> None:
        loop_time = asyncio.get_running_loop().time()
        self.calls.append(Call(ctx.job_id, ctx.attempt, payload, loop_time))

    async def on_failure(self, ctx: JobContext, payload: dict[str, Any], error: str) -> None:
        self.failures.append((ctx.job_id, error, payload))
