"""The worker: claims due jobs, runs them with a concurrency limit, records what happened.

One loop per worker polls the database every `poll_interval` seconds, or at once when an
`enqueue` in this process commits or a running job frees a slot. Each pass it
1. puts jobs whose lease ran out (their worker died) back in the queue, or takes the ones
   whose attempts are spent to fail them,
2. claims as many due jobs as it has free slots and starts one task per job.
A job task runs the handler under the lease: it is cancelled shortly before the lease runs out
unless the handler calls `ctx.heartbeat()`. Then it records success, a retry with exponential
backoff, or the failure (after the kind's `on_failure` hook). On stop, running jobs get
`stop_grace` seconds to finish; the rest are cancelled and given back to the queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
from collections.abc import Coroutine
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from instapods.platform import Platform
from instapods.worker import repository
from instapods.worker.context import JobContext, LeaseLost
from instapods.worker.queue import add_waker, now, remove_waker
from instapods.worker.registry import JobFailed, Registry
from instapods.worker.repository import Claimed

log = logging.getLogger("instapods.worker")

LEASE_SAFETY = 0.9  # a handler is cancelled at 90% of its lease, before anyone may take it over
POLLER_STOP_TIMEOUT = 5.0


@dataclass(frozen=True)
class WorkerOptions:
    """How a worker runs: `concurrency` jobs at once, polling every `poll_interval` s; a job
    holds a `lease` of that many seconds (renewed by heartbeats); failed attempt n waits
    `backoff_base * 2**(n-1)` s (at most `backoff_max`); a stop waits `stop_grace` s."""

    concurrency: int = 8
    poll_interval: float = 0.5
    lease: float = 60.0
    backoff_base: float = 5.0
    backoff_max: float = 3600.0
    stop_grace: float = 10.0

    def backoff(self, attempt: int) -> float:
        """Seconds before retrying after failed attempt number `attempt` (1, 2, …)."""
        return float(min(self.backoff_base * 2 ** (attempt - 1), self.backoff_max))


def worker_name() -> str:
    """`host:pid:random`, so a lease in the table says which process holds it."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(3)}"


def describe(error: BaseException) -> str:
    """The text kept as `last_error` and given to `on_failure`."""
    if isinstance(error, JobFailed):
        return str(error)
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


class _Lease:
    """The lease of one running job: `extend` writes a new expiry and moves the local deadline."""

    def __init__(self, worker: Worker, job: Claimed, started: float) -> None:
        self.worker, self.job = worker, job
        self.deadline = started + worker.options.lease * LEASE_SAFETY
        self.timeout: asyncio.Timeout | None = None

    async def extend(self) -> None:
        loop_now = asyncio.get_running_loop().time()
        until = now() + timedelta(seconds=self.worker.options.lease)
        if not await repository.extend(self.worker.sessions, self.job, self.worker.id, until):
            raise LeaseLost(f"job {self.job.id} was taken over by another worker")
        self.deadline = loop_now + self.worker.options.lease * LEASE_SAFETY
        if self.timeout is not None:
            self.timeout.reschedule(self.deadline)


class Worker:
    """Runs the jobs of `registry`'s kinds from the platform's database until stopped."""

    def __init__(
        self,
        platform: Platform,
        registry: Registry,
        options: WorkerOptions | None = None,
        name: str | None = None,
    ) -> None:
        self.platform = platform
        self.sessions = platform.sessions
        self.registry = registry
        self.options = options or WorkerOptions()
        self.id = name or worker_name()
        self._wake = asyncio.Event()
        self._stopping = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._poller: asyncio.Task[None] | None = None
        self._running: dict[asyncio.Task[None], Claimed] = {}

    @property
    def running(self) -> int:
        return len(self._running)

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        add_waker(self.wake)
        self._poller = asyncio.create_task(self._poll(), name=f"job worker {self.id}")
        log.info("job worker %s started; kinds: %s", self.id, ", ".join(self.registry.kinds))

    def wake(self) -> None:
        """Look for due jobs now (thread-safe; called after an enqueue commits)."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._wake.set)

    async def stop(self) -> None:
        """Stop claiming, let running jobs finish for `stop_grace`, give the rest back."""
        self._stopping = True
        remove_waker(self.wake)
        self._wake.set()
        if self._poller is not None:
            _, pending = await asyncio.wait({self._poller}, timeout=POLLER_STOP_TIMEOUT)
            for poller in pending:  # stuck on an unreachable database; cancelling rolls its
                poller.cancel()  # claim back, or a committed claim's jobs return with the lease
                await asyncio.wait({poller})
        await self._drain()
        log.info("job worker %s stopped", self.id)

    async def wait(self) -> None:
        """Return if the polling loop ends (only when stopped)."""
        if self._poller is not None:
            await asyncio.shield(self._poller)

    async def _poll(self) -> None:
        errors = 0
        while not self._stopping:
            self._wake.clear()
            try:
                await self._pass()
                errors = 0
            except Exception:  # the database may be briefly away; keep trying, loudly
                errors += 1
                log.exception("job worker %s could not reach the job table", self.id)
            delay = self.options.poll_interval * min(2**errors, 20)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._wake.wait()

    async def _pass(self) -> None:
        kinds = self.registry.kinds
        if not kinds:
            return
        at, started = now(), asyncio.get_running_loop().time()
        lease = timedelta(seconds=self.options.lease)
        for job in await repository.requeue_expired(self.sessions, kinds, at):
            log.warning("job %s (%s) resumed: %s", job.id, job.kind, job.last_error)
        free = self.options.concurrency - len(self._running)
        if free > 0:
            spent = await repository.take_spent(self.sessions, self.id, kinds, free, lease, at)
            for job in spent:
                ctx = self._context(job, _Lease(self, job, started))
                self._spawn(job, self._give_up(job, ctx, job.last_error or "lease expired"))
        free = self.options.concurrency - len(self._running)
        if free > 0:
            for job in await repository.claim(self.sessions, self.id, kinds, free, lease, at):
                self._spawn(job, self._execute(job, started))

    def _spawn(self, job: Claimed, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work, name=f"job {job.id}")
        self._running[task] = job
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        job = self._running.pop(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("job %s: could not record its outcome", job.id, exc_info=task.exception())
        self._wake.set()  # a slot is free

    def _context(self, job: Claimed, lease: _Lease) -> JobContext:
        return JobContext(
            self.platform, job.id, job.kind, job.attempt, job.max_attempts, job.subject, lease
        )

    async def _execute(self, job: Claimed, started: float) -> None:
        kind = self.registry.get(job.kind)
        assert kind is not None  # only registered kinds are claimed
        lease = _Lease(self, job, started)
        ctx = self._context(job, lease)
        log.info("job %s (%s) attempt %d/%d", job.id, job.kind, job.attempt, job.max_attempts)
        lease.timeout = timeout = asyncio.timeout_at(lease.deadline)
        try:
            async with timeout:
                await kind.handler(ctx, job.payload)
        except asyncio.CancelledError:
            await self._interrupted(job)
            raise
        except Exception as error:
            if isinstance(error, TimeoutError) and timeout.expired():
                error = TimeoutError(f"no heartbeat within the {self.options.lease:g}s lease")
            await self._attempt_failed(job, ctx, error)
        else:
            if await repository.succeed(self.sessions, job, self.id, now()):
                log.info("job %s (%s) succeeded", job.id, job.kind)
            else:
                log.warning("job %s finished after losing its lease; outcome dropped", job.id)

    async def _attempt_failed(self, job: Claimed, ctx: JobContext, error: Exception) -> None:
        message = describe(error)
        if isinstance(error, LeaseLost):
            log.warning("job %s (%s) stopped: %s", job.id, job.kind, message)
        elif isinstance(error, JobFailed) or job.attempt >= job.max_attempts:
            await self._give_up(job, ctx, message)
        else:
            delay = self.options.backoff(job.attempt)
            log.warning(
                "job %s (%s) attempt %d/%d failed, retrying in %gs: %s",
                *(job.id, job.kind, job.attempt, job.max_attempts, delay, message),
                exc_info=error,
            )
            run_at = now() + timedelta(seconds=delay)
            await repository.retry(self.sessions, job, self.id, run_at, message)

    async def _give_up(self, job: Claimed, ctx: JobContext, error: str) -> None:
        """Run the kind's `on_failure` hook, then mark the job failed (in that order, so a
        crash in between fails it again, hook included, once its lease runs out)."""
        kind = self.registry.get(job.kind)
        if kind is not None and kind.on_failure is not None:
            try:
                async with asyncio.timeout(self.options.lease * LEASE_SAFETY):
                    await kind.on_failure(ctx, job.payload, error)
            except Exception as hook_error:
                log.exception("job %s (%s): on_failure hook failed", job.id, job.kind)
                error = f"{error} (and its on_failure hook failed: {describe(hook_error)})"
        if await repository.fail(self.sessions, job, self.id, now(), error):
            log.error(
                "job %s (%s) failed after %d attempt(s): %s",
                *(job.id, job.kind),
                job.attempt,
                error,
            )

    async def _interrupted(self, job: Claimed) -> None:
        if await repository.release(self.sessions, job, self.id, now()):
            log.warning("job %s (%s) interrupted by shutdown; queued again", job.id, job.kind)

    async def _drain(self) -> None:
        tasks = set(self._running)
        if not tasks:
            return
        log.info("waiting up to %gs for %d running job(s)", self.options.stop_grace, len(tasks))
        _, pending = await asyncio.wait(tasks, timeout=self.options.stop_grace)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=5)
