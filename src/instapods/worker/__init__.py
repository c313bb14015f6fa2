"""The durable job queue: `enqueue` work in a transaction, `register` handlers, run `Worker`s.

See docs/architecture.md, "Jobs", for the table, claiming, leases and the retry policy, and
`instapods.worker.registry` for what a handler must guarantee (idempotency).
"""

from instapods.worker.context import JobContext, LeaseLost
from instapods.worker.queue import DEFAULT_MAX_ATTEMPTS, enqueue, jobs_for, transaction
from instapods.worker.registry import JobFailed, Registry, register
from instapods.worker.worker import Worker, WorkerOptions

__all__ = [
    "DEFAULT_MAX_ATTEMPTS",
    "JobContext",
    "JobFailed",
    "LeaseLost",
    "Registry",
    "Worker",
    "WorkerOptions",
    "enqueue",
    "jobs_for",
    "register",
    "transaction",
]
