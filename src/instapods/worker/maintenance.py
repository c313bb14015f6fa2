"""The queue's own housekeeping jobs."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import delete

from instapods.models import Job, JobStatus
from instapods.worker.context import JobContext
from instapods.worker.queue import now
from instapods.worker.registry import register

FINISHED = (JobStatus.SUCCEEDED.value, JobStatus.FAILED.value)


@register("jobs.prune")
async def prune(ctx: JobContext, payload: dict[str, Any]) -> None:
    """Delete jobs that finished more than `older_than_days` (default 30) days ago."""
    cutoff = now() - timedelta(days=float(payload.get("older_than_days", 30)))
    async with ctx.transaction() as session:
        await session.execute(delete(Job).where(Job.status.in_(FINISHED), Job.finished_at < cutoff))
