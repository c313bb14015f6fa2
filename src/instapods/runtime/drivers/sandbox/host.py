"""Small helpers for talking to the host: commands that must succeed, /proc reads."""

from __future__ import annotations

import os
from collections.abc import Sequence

from instapods.kit import procs
from instapods.runtime.errors import RuntimeDriverError


async def must(argv: Sequence[str], *, stdin: bytes | None = None, timeout: float = 30.0) -> str:
    """Run a host command; RuntimeDriverError with its stderr if it fails."""
    result = await procs.run(argv, timeout=timeout, stdin=stdin)
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()[-3:]
        raise RuntimeDriverError(f"{argv[0]} failed ({result.returncode}): {' '.join(detail)}")
    return result.stdout


async def may(argv: Sequence[str], *, stdin: bytes | None = None, timeout: float = 30.0) -> bool:
    """Run a host command whose failure is expected sometimes (delete what may be gone)."""
    result = await procs.run(argv, timeout=timeout, stdin=stdin)
    return result.returncode == 0


def start_time(pid: int) -> int | None:
    """The process's start time in clock ticks (field 22 of /proc/PID/stat), to detect reuse;
    None when there is no such process or it is a zombie."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            data = handle.read()
    except OSError:
        return None
    fields = data[data.rindex(b")") + 2 :].split()
    if fields[0] in (b"Z", b"X"):
        return None
    return int(fields[19])


def alive(pid: int, started: int | None) -> bool:
    return started is not None and start_time(pid) == started


def children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as handle:
            return [int(p) for p in handle.read().split()]
    except OSError:
        return []


def write(path: str, value: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_TRUNC)  # as `echo value > file` does
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)
