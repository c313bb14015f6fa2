"""Running host programs: argument lists only, never a shell, always with a time limit."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Completed:
    returncode: int
    stdout: str
    stderr: str


async def run(argv: Sequence[str], timeout: float = 10.0, stdin: bytes | None = None) -> Completed:
    """Run `argv` and collect its output; raises TimeoutError (after killing it) or OSError."""
    process = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.DEVNULL if stdin is None else asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(stdin), timeout)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    return Completed(
        process.returncode or 0, stdout.decode(errors="replace"), stderr.decode(errors="replace")
    )
