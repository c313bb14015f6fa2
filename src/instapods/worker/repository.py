"""The worker's SQL: claiming jobs, taking back expired leases, recording outcomes.

Every transition out of `running` is fenced on (status, locked_by, attempts): a worker that
lost its lease (and so its job, to another worker) cannot overwrite what the new owner does.
Claims select candidates with `FOR UPDATE SKIP LOCKED` (PostgreSQL; SQLite has no row locks and
the clause is left out) and then update only rows that are *still* claimable, so on SQLite too
two loops can never take the same job: the second conditional UPDATE finds it taken.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, String, cast, literal, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from instapods.models import Job, JobStatus

MAX_ERROR_CHARS = 2000
RECOVERY_BATCH = 100

QUEUED = JobStatus.QUEUED.value
RUNNING = JobStatus.RUNNING.value

Sessions = async_sessionmaker[AsyncSession]


@dataclass(frozen=True)
class Claimed:
    """A job this worker holds the lease of, as it was when claimed."""

    id: str
    kind: str
    payload: dict[str, Any]
    attempt: int
    max_attempts: int
    subject: str | None
    last_error: str | None


_CLAIMED_COLUMNS = (
    Job.id,
    Job.kind,
    Job.payload,
    Job.attempts,
    Job.max_attempts,
    Job.subject,
    Job.last_error,
)


# evaluated against the row before the update: names the worker that held the lease
_LEASE_EXPIRED = (
    literal("lease expired: worker ")
    + Job.locked_by
    + " stopped during attempt "
    + cast(Job.attempts, String)
)


def bounded(error: str) -> str:
    return error if len(error) <= MAX_ERROR_CHARS else error[: MAX_ERROR_CHARS - 1] + "…"


def _due(at: datetime, kinds: list[str]) -> list[ColumnElement[bool]]:
    return [Job.status == QUEUED, Job.run_at <= at, Job.kind.in_(kinds)]


def _expired(at: datetime, kinds: list[str]) -> list[ColumnElement[bool]]:
    return [Job.status == RUNNING, Job.locked_until < at, Job.kind.in_(kinds)]


async def _take(
    sessions: Sessions, where: list[ColumnElement[bool]], limit: int, values: dict[str, Any]
) -> list[Claimed]:
    """Lock up to `limit` rows matching `where` (skipping rows others hold), update those that
    still match, and return them as they are after the update."""
    async with sessions() as session, session.begin():
        candidates = (
            select(Job.id)
            .where(*where)
            .order_by(Job.run_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        ids = list(await session.scalars(candidates))
        if not ids:
            return []
        statement = (
            update(Job)
            .where(Job.id.in_(ids), *where)
            .values(**values)
            .returning(*_CLAIMED_COLUMNS)
            .execution_options(synchronize_session=False)
        )
        rows = (await session.execute(statement)).all()
    return [Claimed(*row) for row in rows]


async def claim(
    sessions: Sessions, worker: str, kinds: list[str], limit: int, lease: timedelta, at: datetime
) -> list[Claimed]:
    """Start the next attempt of up to `limit` due jobs: `running`, leased to `worker`."""
    values = {
        "status": RUNNING,
        "attempts": Job.attempts + 1,
        "locked_by": worker,
        "locked_until": at + lease,
    }
    return await _take(sessions, _due(at, kinds), limit, values)


async def requeue_expired(sessions: Sessions, kinds: list[str], at: datetime) -> list[Claimed]:
    """Put jobs whose lease ran out and that have attempts left back in the queue, due now.

    The lost attempt counts; `last_error` names the worker that stopped answering.
    """
    where = [*_expired(at, kinds), Job.attempts < Job.max_attempts]
    values = {
        "status": QUEUED,
        "run_at": at,
        "locked_by": None,
        "locked_until": None,
        "last_error": _LEASE_EXPIRED,
    }
    return await _take(sessions, where, RECOVERY_BATCH, values)


async def take_spent(
    sessions: Sessions, worker: str, kinds: list[str], limit: int, lease: timedelta, at: datetime
) -> list[Claimed]:
    """Lease to `worker` the jobs whose lease ran out on their last attempt, to fail them."""
    where = [*_expired(at, kinds), Job.attempts >= Job.max_attempts]
    values = {"locked_by": worker, "locked_until": at + lease, "last_error": _LEASE_EXPIRED}
    return await _take(sessions, where, limit, values)


async def _transition(sessions: Sessions, job: Claimed, worker: str, **values: Any) -> bool:
    """Apply `values` if the job is still this worker's attempt; False if the lease was lost."""
    async with sessions() as session, session.begin():
        statement = (
            update(Job)
            .where(
                Job.id == job.id,
                Job.status == RUNNING,
                Job.locked_by == worker,
                Job.attempts == job.attempt,
            )
            .values(**values)
            .returning(Job.id)
            .execution_options(synchronize_session=False)
        )
        return (await session.scalar(statement)) is not None


async def extend(sessions: Sessions, job: Claimed, worker: str, until: datetime) -> bool:
    return await _transition(sessions, job, worker, locked_until=until)


async def succeed(sessions: Sessions, job: Claimed, worker: str, at: datetime) -> bool:
    return await _transition(
        sessions, job, worker, status="succeeded", finished_at=at, locked_by=None, locked_until=None
    )


async def retry(
    sessions: Sessions, job: Claimed, worker: str, run_at: datetime, error: str
) -> bool:
    return await _transition(
        sessions,
        job,
        worker,
        status=QUEUED,
        run_at=run_at,
        locked_by=None,
        locked_until=None,
        last_error=bounded(error),
    )


async def fail(sessions: Sessions, job: Claimed, worker: str, at: datetime, error: str) -> bool:
    return await _transition(
        sessions,
        job,
        worker,
        status="failed",
        finished_at=at,
        locked_by=None,
        locked_until=None,
        last_error=bounded(error),
    )


async def release(sessions: Sessions, job: Claimed, worker: str, at: datetime) -> bool:
    """Give an interrupted attempt back (worker shutting down): queued again, attempt refunded."""
    return await _transition(
        sessions,
        job,
        worker,
        status=QUEUED,
        run_at=at,
        attempts=Job.attempts - 1,
        locked_by=None,
        locked_until=None,
    )
