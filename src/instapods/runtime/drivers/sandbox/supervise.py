"""Keeping a pod's services running: exit detection, crash accounting, restart with backoff."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import subprocess
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from instapods.runtime.base import RuntimeEvent, ServiceSpec, ServiceState
from instapods.runtime.drivers.sandbox.process import Launched, pidfd, reap

log = logging.getLogger("instapods.runtime")

CRASH_WINDOW = 120.0  # seconds in which CRASH_LOOP crashes make a crash loop
CRASH_LOOP = 5
STABLE_AFTER = 60.0  # a service that ran this long starts its backoff afresh
BACKOFF_BASE = 1.0  # seconds before the first restart, doubling per crash (tests lower it)
MAX_BACKOFF = 30.0


@dataclass
class Supervised:
    """One service of a pod as the control plane watches it."""

    pod_id: str
    spec: ServiceSpec
    launched: Launched | None = None
    process: subprocess.Popen[bytes] | None = None  # set when the process is our own child
    fd: int | None = None
    stopping: bool = False
    restarts: int = 0
    crashes: list[float] = field(default_factory=list)
    consecutive: int = 0
    last_exit_code: int | None = None
    oom_killed: bool = False
    oom_baseline: int = 0
    pending: asyncio.Task[None] | None = None

    def running(self) -> bool:
        return self.launched is not None and self.launched.alive()

    def crash_loop(self) -> bool:
        now = time.monotonic()
        return len([t for t in self.crashes if now - t < CRASH_WINDOW]) >= CRASH_LOOP

    def state(self) -> ServiceState:
        from datetime import UTC, datetime

        started = datetime.fromtimestamp(self.launched.launched_at, UTC) if self.launched else None
        return ServiceState(
            name=self.spec.name,
            running=self.running(),
            pid=self.launched.pid if self.launched else None,
            restarts=self.restarts,
            last_exit_code=self.last_exit_code,
            oom_killed=self.oom_killed,
            crash_loop=self.crash_loop(),
            started_at=started,
        )

    def backoff(self) -> float:
        return min(MAX_BACKOFF, BACKOFF_BASE * 2.0 ** max(0, self.consecutive - 1))


class Watcher:
    """Turns the end of a watched process into a call of `on_exit` on the event loop."""

    def __init__(self, on_exit: Callable[[Supervised], Coroutine[Any, Any, None]]) -> None:
        self.on_exit = on_exit
        self.tasks: set[asyncio.Task[None]] = set()

    def watch(self, service: Supervised) -> None:
        assert service.launched is not None
        self.unwatch(service)
        fd = pidfd(service.launched.pid)
        if fd is None or not service.launched.alive():
            if fd is not None:
                os.close(fd)
            self._fire(service)
            return
        service.fd = fd
        asyncio.get_running_loop().add_reader(fd, self._fire, service)

    def unwatch(self, service: Supervised) -> None:
        if service.fd is not None:
            asyncio.get_running_loop().remove_reader(service.fd)
            os.close(service.fd)
            service.fd = None

    def _fire(self, service: Supervised) -> None:
        self.unwatch(service)
        if service.launched is not None:
            reap(service.launched.pid)
        if service.process is not None:
            with contextlib.suppress(Exception):
                service.process.poll()
        task = asyncio.get_running_loop().create_task(self.on_exit(service))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)


def crash_event(service: Supervised, code: int | None, oom: bool) -> RuntimeEvent:
    if oom:
        message = f"{service.spec.name} was killed: out of memory"
        kind = "oom_killed"
    else:
        message = f"{service.spec.name} exited with code {code if code is not None else '?'}"
        kind = "crashed"
    return RuntimeEvent(service.pod_id, kind, message, service.spec.name)
