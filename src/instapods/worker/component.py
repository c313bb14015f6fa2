"""The job worker as a supervisor component, for `instapods server` and `instapods worker`."""

from __future__ import annotations

from collections.abc import Callable

from instapods.config import Settings
from instapods.platform import Platform, start_platform, stop_platform
from instapods.worker.registry import Registry, load_handlers
from instapods.worker.worker import Worker, WorkerOptions


class JobWorker:
    """Runs a `Worker` on the platform given by `platform` (in `instapods server`, the one the
    API started) or, without it, on a platform of its own (`instapods worker`)."""

    name = "worker"

    def __init__(
        self,
        settings: Settings,
        *,
        platform: Callable[[], Platform] | None = None,
        registry: Registry | None = None,
        options: WorkerOptions | None = None,
    ) -> None:
        self.settings = settings
        self.shared_platform = platform
        self.registry = registry
        self.options = options
        self.own_platform: Platform | None = None
        self.worker: Worker | None = None

    async def start(self) -> None:
        if self.shared_platform is not None:
            platform = self.shared_platform()
        else:
            platform = self.own_platform = await start_platform(self.settings, keeper=False)
        options = self.options or WorkerOptions(
            concurrency=self.settings.worker_concurrency, lease=self.settings.worker_lease_seconds
        )
        self.worker = Worker(platform, self.registry or load_handlers(), options)
        await self.worker.start()

    async def stop(self) -> None:
        if self.worker is not None:
            await self.worker.stop()
        if self.own_platform is not None:
            await stop_platform(self.own_platform)
            self.own_platform = None

    async def wait(self) -> None:
        if self.worker is not None:
            await self.worker.wait()
