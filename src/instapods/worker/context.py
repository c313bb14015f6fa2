"""What a job handler receives besides its payload."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from instapods.platform import Platform
from instapods.worker.queue import transaction


class Lease(Protocol):
    async def extend(self) -> None:
        """Extend the job's lease by the worker's lease time; raise `LeaseLost` if it is gone."""


class LeaseLost(Exception):
    """The job is no longer this worker's (its lease ran out and another worker took it)."""


@dataclass
class JobContext:
    """The running job: its identity and attempt, the platform, and its lease."""

    platform: Platform
    job_id: str
    kind: str
    attempt: int
    max_attempts: int
    subject: str | None
    lease: Lease = field(repr=False)

    @property
    def sessions(self) -> async_sessionmaker[AsyncSession]:
        return self.platform.sessions

    @property
    def last_attempt(self) -> bool:
        return self.attempt >= self.max_attempts

    async def heartbeat(self) -> None:
        """Keep the job for another lease period; call it at least every half lease.

        Raises `LeaseLost` when another worker has taken the job over: stop working then.
        """
        await self.lease.extend()

    def transaction(self) -> AbstractAsyncContextManager[AsyncSession]:
        """A session in one transaction; `after_commit` actions (wake-ups) run once it commits."""
        return transaction(self.sessions)
