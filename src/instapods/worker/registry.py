"""Job kinds and their handlers: the explicit list of what a worker can run.

A handler is `async def handler(ctx: JobContext, payload: dict) -> None`, registered under a
kind such as `"pod.provision"`:

    @register("pod.provision", on_failure=mark_pod_error)
    async def provision(ctx: JobContext, payload: dict[str, Any]) -> None: ...

**Handlers must be idempotent.** A job runs *at least* once: when a worker dies mid-job (crash,
kill -9, lost machine) its lease runs out and another worker runs the same job again from the
start, and a handler that finished its work may be run again if the worker died before it could
record the success. So a handler checks the state it is about to create ("does the pod's cgroup
exist already?") instead of assuming a clean slate, and writes its results so that doing it twice
leaves the same state as doing it once.

A handler that raises is retried with exponential backoff until the job's `max_attempts`; raising
`JobFailed` fails the job at once. When a job fails for good, the kind's `on_failure(ctx,
payload, error)` hook runs (before the job is marked `failed`, so a crash in between runs it
again: it must be idempotent too), so the domain can say why, e.g. mark a pod `error`.

A handler that runs longer than the worker's lease must call `await ctx.heartbeat()` (at least
every half lease); otherwise the worker cancels it when the lease runs out and counts a failed
attempt.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from instapods.worker.context import JobContext

Payload = dict[str, Any]
Handler = Callable[[JobContext, Payload], Awaitable[None]]
FailureHook = Callable[[JobContext, Payload, str], Awaitable[None]]

KIND_PATTERN = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$")

HANDLER_MODULES = ("instapods.worker.maintenance", "instapods.pods.tasks")
"""Modules whose import registers handlers on the default registry: one line per domain
(e.g. `instapods.pods.tasks`), so `instapods server` and `instapods worker` know every kind."""


class JobFailed(Exception):
    """Raise from a handler to fail the job now, without further attempts.

    The message is the job's `last_error` and the `error` given to `on_failure`, so write it
    for the person who will read it (e.g. "the php preset is not available on this server").
    """


@dataclass(frozen=True)
class JobKind:
    name: str
    handler: Handler
    on_failure: FailureHook | None


class Registry:
    """Maps job kinds to handlers. A worker claims only the kinds its registry knows."""

    def __init__(self) -> None:
        self._kinds: dict[str, JobKind] = {}

    def register(
        self, kind: str, *, on_failure: FailureHook | None = None
    ) -> Callable[[Handler], Handler]:
        """Decorator: run `handler` for jobs of `kind`; `on_failure` when one fails for good."""
        if not KIND_PATTERN.match(kind) or len(kind) > 64:
            raise ValueError(f"invalid job kind {kind!r}")

        def decorate(handler: Handler) -> Handler:
            if kind in self._kinds:
                raise ValueError(f"job kind {kind!r} is already registered")
            self._kinds[kind] = JobKind(kind, handler, on_failure)
            return handler

        return decorate

    def get(self, kind: str) -> JobKind | None:
        return self._kinds.get(kind)

    @property
    def kinds(self) -> list[str]:
        return sorted(self._kinds)


registry = Registry()
"""The default registry, which `instapods server` and `instapods worker` run."""

register = registry.register


def load_handlers() -> Registry:
    """Import every module of `HANDLER_MODULES` and return the default registry."""
    for module in HANDLER_MODULES:
        importlib.import_module(module)
    return registry
