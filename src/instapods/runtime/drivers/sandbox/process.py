"""Starting pod processes so that they join the pod's cgroup before they run anything.

bwrap is started with `--block-fd`: it builds the sandbox, reports its child's PID on
`--info-fd`, then waits. We move both bwrap processes into the pod's cgroup and only then let
it go, so every process the service ever starts is counted against the pod. `--json-status-fd`
writes the exit code to a file when the service ends, which we read even after a restart of
the control plane (when the process is no longer our child).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from instapods.runtime.drivers.sandbox.cgroups import PodCgroup
from instapods.runtime.drivers.sandbox.host import alive, children, start_time
from instapods.runtime.errors import ExecFailed

INFO_TIMEOUT = 10.0
Builder = Callable[[dict[str, int]], list[str]]


@dataclass(frozen=True)
class Launched:
    """A running sandboxed process: bwrap's monitor and its child (PID 1 of the sandbox)."""

    pid: int
    child: int
    started: int  # start time of `pid`, to tell it from a later process with the same PID
    launched_at: float

    def save(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self)))
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> Launched | None:
        try:
            return cls(**json.loads(path.read_text()))
        except (OSError, ValueError, TypeError):
            return None

    def alive(self) -> bool:
        return alive(self.pid, self.started)


def _read_info(fd: int, deadline: float) -> dict[str, int]:
    data = b""
    while time.monotonic() < deadline:
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        data += chunk
        with contextlib.suppress(ValueError):
            parsed: dict[str, int] = json.loads(data)
            return parsed
    raise ExecFailed(f"the sandbox did not start: {data.decode(errors='replace')[:200]}")


class Gate:
    """The descriptors that hold a new sandbox until it is inside the pod's cgroup."""

    def __init__(self, status_path: Path | None) -> None:
        self.info_r, self.info_w = os.pipe()
        self.block_r, self.block_w = os.pipe()
        self.status_fd = -1
        self.fds = {"info-fd": self.info_w, "block-fd": self.block_r}
        if status_path is not None:
            flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
            self.status_fd = os.open(status_path, flags, 0o600)
            self.fds["json-status-fd"] = self.status_fd

    def spawned(self) -> None:
        """Close the child's ends once it has them."""
        for fd in (self.info_w, self.block_r, self.status_fd):
            if fd >= 0:
                os.close(fd)

    def release(self, pid: int, cgroup: PodCgroup) -> Launched:
        """Wait for the sandbox to report, move it into the cgroup, and let it run."""
        try:
            info = _read_info(self.info_r, time.monotonic() + INFO_TIMEOUT)
            child = int(info["child-pid"])
            cgroup.attach(pid)
            cgroup.attach(child)
            os.write(self.block_w, b"go")
        finally:
            os.close(self.info_r)
            os.close(self.block_w)
        return Launched(pid, child, start_time(pid) or 0, time.time())

    def abandon(self) -> None:
        for fd in (self.info_r, self.block_w):
            with contextlib.suppress(OSError):
                os.close(fd)


def launch(
    build: Callable[[dict[str, int]], list[str]],
    cgroup: PodCgroup,
    *,
    stdout: int,
    stderr: int,
    status_path: Path,
) -> tuple[subprocess.Popen[bytes], Launched]:
    """Start a detached sandboxed service inside `cgroup` (it outlives the control plane)."""
    gate = Gate(status_path)
    try:
        process = subprocess.Popen(  # noqa: S603 (an argument list built by SandboxView)
            build(gate.fds),
            pass_fds=tuple(gate.fds.values()),
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
            start_new_session=True,
        )
    except BaseException:
        gate.spawned()
        gate.abandon()
        raise
    gate.spawned()
    try:
        return process, gate.release(process.pid, cgroup)
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        process.wait()
        raise


def read_exit_code(status_path: Path) -> int | None:
    """The exit code bwrap wrote when the service ended (None if it was killed itself)."""
    try:
        text = status_path.read_text()
    except OSError:
        return None
    code = None
    decoder = json.JSONDecoder()
    index = 0
    while index < len(text):
        text_rest = text[index:].lstrip()
        if not text_rest:
            break
        try:
            document, end = decoder.raw_decode(text_rest)
        except ValueError:
            break
        index = len(text) - len(text_rest) + end
        if isinstance(document, dict) and "exit-code" in document:
            code = int(document["exit-code"])
    return code


async def terminate(launched: Launched, grace: float) -> None:
    """Ask the service to stop (SIGTERM to what runs under the sandbox's PID 1), then end the
    sandbox (SIGKILL to its PID 1 takes every process of that PID namespace with it)."""
    if not launched.alive():
        return
    for pid in children(launched.child):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and children(launched.child):
        await asyncio.sleep(0.02)
    with contextlib.suppress(ProcessLookupError):
        os.kill(launched.child, signal.SIGKILL)
    while launched.alive():
        with contextlib.suppress(ChildProcessError):
            os.waitpid(launched.pid, os.WNOHANG)
        if time.monotonic() > deadline + 5:
            with contextlib.suppress(ProcessLookupError):
                os.kill(launched.pid, signal.SIGKILL)
        await asyncio.sleep(0.01)


def wait_exit_code(fd: int) -> int | None:
    """Read bwrap's --json-status-fd until it reports the command's exit code (blocking)."""
    data = b""
    while chunk := os.read(fd, 4096):
        data += chunk
        if b'"exit-code"' in data:
            for document in data.replace(b"}", b"}\n").splitlines():
                with contextlib.suppress(ValueError):
                    parsed = json.loads(document)
                    if isinstance(parsed, dict) and "exit-code" in parsed:
                        return int(parsed["exit-code"])
    return None


def kill_owned(pid: int, uid: int) -> None:
    """SIGKILL `pid` if it is still a process of this pod's user (never a reused PID's)."""
    try:
        with open(f"/proc/{pid}/status") as handle:
            owner = next((line.split()[1] for line in handle if line.startswith("Uid:")), None)
    except OSError:
        return
    if owner == str(uid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def kill_uid(uid: int) -> None:
    """SIGKILL every process of a pod's host uid: that uid is the pod's alone, so this also
    finds a sandbox caught outside the pod's cgroup (a launch cut off by a crash)."""
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            kill_owned(int(entry), uid)


def reap(pid: int) -> None:
    """Collect a finished child of ours (a no-op for adopted processes)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def pidfd(pid: int) -> int | None:
    try:
        return os.pidfd_open(pid)
    except (ProcessLookupError, OSError):
        return None


def signal_all(pids: Sequence[int], sig: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
