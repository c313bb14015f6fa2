"""Turns what the runtime saw on its own (crashes, OOM kills, crash loops) into pod events."""

from __future__ import annotations

import asyncio
import logging

from instapods.models import Pod
from instapods.platform import Platform
from instapods.pods import repository

log = logging.getLogger("instapods.pods")
EVERY = 1.0


async def record_runtime_events(platform: Platform) -> None:
    events = platform.runtime.events()
    if not events:
        return
    async with platform.sessions() as session, session.begin():
        for event in events:
            pod = await session.get(Pod, event.pod_id)
            if pod is None:
                continue
            await repository.add_event(session, pod, event.type, event.message, "system")


async def watch(platform: Platform) -> None:
    while True:
        await asyncio.sleep(EVERY)
        try:
            await record_runtime_events(platform)
        except Exception:  # keep watching; the next round retries
            log.exception("could not record runtime events")
