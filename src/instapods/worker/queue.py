"""The producer side: add jobs inside the caller's transaction, wake local workers after it.

`enqueue` only adds a row to the session it is given, so a job exists if and only if the
request (or other transaction) that asked for it commits. Once it has committed, the workers
running in this process are woken at once; workers elsewhere find the job at their next poll.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from instapods.db import after_commit, run_after_commit
from instapods.kit.ids import new_id
from instapods.models import Job, JobStatus
from instapods.models.job import UNFINISHED

log = logging.getLogger("instapods.worker")

DEFAULT_MAX_ATTEMPTS = 5

_wakers: set[Callable[[], None]] = set()


def now() -> datetime:
    """The current time to the microsecond (run_at and leases need better than seconds)."""
    return datetime.now(UTC)


async def enqueue(
    session: AsyncSession,
    kind: str,
    payload: dict[str, Any],
    *,
    run_at: datetime | None = None,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    subject: str | None = None,
    dedupe_key: str | None = None,
) -> Job:
    """Queue a job in the caller's transaction; the in-process workers wake once it commits.

    `payload` must be JSON. `subject` (e.g. "pod:pod_abc") lets the jobs of one thing be found.
    With a `dedupe_key`, an unfinished (queued or running) job with the same key is returned
    instead of adding a second one.
    """
    if max_attempts < 1:
        raise ValueError("max_attempts must be at least 1")
    values: dict[str, Any] = {
        "id": new_id("job"),
        "kind": kind,
        "payload": payload,
        "status": JobStatus.QUEUED.value,
        "attempts": 0,
        "max_attempts": max_attempts,
        "run_at": run_at or now(),
        "subject": subject,
        "dedupe_key": dedupe_key,
    }
    if wake_workers not in session.info.get("after_commit", []):
        after_commit(session, wake_workers)
    if dedupe_key is None:
        job = Job(**values)
        session.add(job)
        return job
    return await _enqueue_once(session, values)


async def _enqueue_once(session: AsyncSession, values: dict[str, Any]) -> Job:
    """Insert unless an unfinished job has the key; `ON CONFLICT` settles concurrent inserts."""
    await session.flush()
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = (
        insert(Job)
        .values(**values)
        .on_conflict_do_nothing(
            index_elements=[Job.dedupe_key],
            index_where=text("status IN ('queued', 'running')"),  # the partial index, verbatim
        )
    )
    await session.execute(statement)
    job = await session.scalar(
        select(Job).where(Job.dedupe_key == values["dedupe_key"], Job.status.in_(UNFINISHED))
    )
    assert job is not None  # inserted, or the unfinished one that made the insert a no-op
    return job


async def jobs_for(session: AsyncSession, subject: str) -> list[Job]:
    """The jobs of one subject (e.g. "pod:pod_abc"), newest first."""
    statement = (
        select(Job).where(Job.subject == subject).order_by(Job.created_at.desc(), Job.run_at.desc())
    )
    return list(await session.scalars(statement))


@asynccontextmanager
async def transaction(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """One transaction outside a request, with the request's `after_commit` behaviour.

    Committed when the block ends, rolled back if it raises; actions registered with
    `db.after_commit` (such as the wake-up `enqueue` adds) run only after the commit.
    """
    async with sessions() as session:
        async with session.begin():
            yield session
        await run_after_commit(session)


def add_waker(wake: Callable[[], None]) -> None:
    """Called by each worker of this process as it starts: `wake` is called after enqueues."""
    _wakers.add(wake)


def remove_waker(wake: Callable[[], None]) -> None:
    _wakers.discard(wake)


async def wake_workers() -> None:
    """Wake every worker of this process (an after-commit action of `enqueue`)."""
    for wake in list(_wakers):
        wake()
