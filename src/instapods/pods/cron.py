"""Cron jobs of pods: each minute, the jobs whose schedule matches run inside their pod.

They run as the pod's user in /home/instapod/app (`bash -lc`), at most one run of a job at a
time, for at most CRON_TIMEOUT; their output goes to the pod's `cron` log and a failure is
recorded as an event. Schedules are read in UTC.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

from instapods.kit.clock import utcnow
from instapods.kit.cron import CronError, Schedule
from instapods.models import Pod
from instapods.platform import Platform
from instapods.pods import repository, runtime_view
from instapods.pods.presets import APP

log = logging.getLogger("instapods.cron")
CRON_TIMEOUT = 3600.0
RUNS_IN = frozenset({"running", "starting", "restarting"})


class Cron:
    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.running: dict[tuple[str, int], asyncio.Task[None]] = {}

    async def forever(self) -> None:
        while True:
            now = datetime.now(tz=utcnow().tzinfo)
            next_minute = (now + timedelta(minutes=1)).replace(second=0, microsecond=0)
            await asyncio.sleep((next_minute - now).total_seconds())
            try:
                await self.tick(next_minute)
            except Exception:  # the next minute tries again
                log.exception("cron tick failed")

    async def tick(self, moment: datetime) -> list[asyncio.Task[None]]:
        """Start every job due at `moment`; returns the runs started (tests await them)."""
        async with self.platform.sessions() as session:
            pods = await repository.pods_on_server(session, self.platform.server.id)
        started = []
        for pod in pods:
            if not pod.cron_jobs or pod.slot is None:
                continue
            live = await runtime_view.live_state(self.platform, pod)
            if runtime_view.status_of(pod, live)[0] not in RUNS_IN:
                continue
            for index, job in enumerate(pod.cron_jobs):
                task = self._maybe_start(pod, index, job, moment)
                if task is not None:
                    started.append(task)
        return started

    def _maybe_start(
        self, pod: Pod, index: int, job: dict[str, str], moment: datetime
    ) -> asyncio.Task[None] | None:
        try:
            due = Schedule.parse(job["schedule"]).matches(moment)
        except (CronError, KeyError):
            return None
        key = (pod.id, index)
        if not due or (key in self.running and not self.running[key].done()):
            return None
        task = asyncio.create_task(self._run(pod, job["command"]))
        self.running[key] = task
        return task

    async def _run(self, pod: Pod, command: str) -> None:
        spec = runtime_view.bare_spec(self.platform, pod)
        result = await self.platform.runtime.exec(
            spec, ["/bin/bash", "-lc", command], timeout=CRON_TIMEOUT, cwd=APP, log_as="cron"
        )
        if result.exit_code != 0:
            async with self.platform.sessions() as session, session.begin():
                row = await session.get(Pod, pod.id)
                if row is not None:
                    text = f"Cron job failed (exit {result.exit_code}): {command[:200]}"
                    await repository.add_event(session, row, "cron_failed", text, "system")
