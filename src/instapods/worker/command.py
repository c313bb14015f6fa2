"""`instapods worker`: the job worker alone, under the same supervisor as the server."""

from __future__ import annotations

import asyncio
import logging

from instapods.config import Settings
from instapods.supervisor import serve
from instapods.worker.component import JobWorker


def run_worker(settings: Settings) -> int:
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    return asyncio.run(serve([JobWorker(settings)]))
