"""Pod cgroups, written directly: cgroup v1 (one hierarchy per controller, as on these
machines) and cgroup v2 (one unified hierarchy, as on stock Debian).

A pod's cgroups nest under the control plane's own cgroup at start-up (where it may write),
in `instapods/<pod_id>`. Their absolute paths are kept in the pod's state so a control plane
that restarts somewhere else still finds them.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from instapods.runtime.drivers.sandbox.host import write

ROOT = Path("/sys/fs/cgroup")
V1_CONTROLLERS = ("memory", "cpu", "cpuacct", "pids")
CPU_PERIOD_US = 100_000


def version(root: Path = ROOT) -> int:
    return 2 if (root / "cgroup.controllers").exists() else 1


def _own_path(controller: str) -> str:
    """Our cgroup in a v1 hierarchy (`controller`) or the v2 one (`""`), from /proc/self."""
    with open("/proc/self/cgroup") as handle:
        for line in handle:
            _, names, path = line.rstrip("\n").split(":", 2)
            if controller in names.split(",") or (not controller and names == ""):
                return path.rstrip("/")
    return ""


@dataclass(frozen=True)
class PodCgroup:
    """The directories of one pod's cgroup: one per v1 controller, or one v2 directory."""

    paths: dict[str, str]  # controller (or "unified") -> absolute directory
    version: int

    @classmethod
    def plan(cls, group: str, pod_id: str) -> PodCgroup:
        """Where pod `pod_id` of installation `group` gets its cgroup, seen from here."""
        if version() == 2:
            return cls({"unified": str(_v2_parent() / group / pod_id)}, 2)
        paths = {}
        for controller in V1_CONTROLLERS:
            base = ROOT / controller / _own_path(controller).lstrip("/")
            paths[controller] = str(base / group / pod_id)
        return cls(paths, 1)

    def create(self) -> None:
        for path in self.paths.values():
            os.makedirs(path, exist_ok=True)
        if self.version == 2:
            _enable_v2_controllers(Path(self.paths["unified"]).parent)

    def _file(self, controller: str, name: str) -> str:
        key = "unified" if self.version == 2 else controller
        return os.path.join(self.paths[key], name)

    def set_limits(self, cpu: float, memory_bytes: int, pids: int) -> None:
        quota = max(1000, int(cpu * CPU_PERIOD_US))
        if self.version == 2:
            write(self._file("", "memory.max"), str(memory_bytes))
            with contextlib.suppress(OSError):
                write(self._file("", "memory.swap.max"), "0")
            write(self._file("", "cpu.max"), f"{quota} {CPU_PERIOD_US}")
            write(self._file("", "pids.max"), str(pids))
            return
        _set_v1_memory(self._file("memory", ""), memory_bytes)
        write(self._file("cpu", "cpu.cfs_period_us"), str(CPU_PERIOD_US))
        write(self._file("cpu", "cpu.cfs_quota_us"), str(quota))
        write(self._file("pids", "pids.max"), str(pids))

    def attach(self, pid: int) -> None:
        """Move a process (and so everything it starts later) into the pod."""
        for path in self.paths.values():
            write(os.path.join(path, "cgroup.procs"), str(pid))

    def pids(self) -> list[int]:
        key = "unified" if self.version == 2 else "pids"
        try:
            with open(os.path.join(self.paths[key], "cgroup.procs")) as handle:
                return [int(line) for line in handle if line.strip()]
        except FileNotFoundError:
            return []

    def oom_kills(self) -> int:
        """How many processes the kernel killed for memory in this pod so far."""
        name = "memory.events" if self.version == 2 else "memory.oom_control"
        try:
            with open(self._file("memory", name)) as handle:
                for line in handle:
                    key, _, value = line.partition(" ")
                    if key == "oom_kill":
                        return int(value)
        except FileNotFoundError:
            pass
        return 0

    def memory_bytes(self) -> int:
        name = "memory.current" if self.version == 2 else "memory.usage_in_bytes"
        return _read_int(self._file("memory", name))

    def cpu_usage_ns(self) -> int:
        if self.version == 2:
            for line in _read(self._file("", "cpu.stat")).splitlines():
                key, _, value = line.partition(" ")
                if key == "usage_usec":
                    return int(value) * 1000
            return 0
        return _read_int(self._file("cpuacct", "cpuacct.usage"))

    def kill_all(self, timeout: float = 5.0) -> None:
        """SIGKILL every process of the pod until none is left."""
        deadline = time.monotonic() + timeout
        while pids := self.pids():
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            if time.monotonic() > deadline:
                raise TimeoutError(f"processes {pids} survived SIGKILL")
            time.sleep(0.01)

    def remove(self) -> None:
        self.kill_all()
        for path in self.paths.values():
            for _ in range(100):  # the kernel frees the cgroup a moment after its last task
                try:
                    os.rmdir(path)
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.01)


def _set_v1_memory(directory: str, limit: int) -> None:
    memsw = os.path.join(directory, "memory.memsw.limit_in_bytes")
    limit_file = os.path.join(directory, "memory.limit_in_bytes")
    # memsw must stay >= memory: lower memory first when shrinking, raise memsw first when growing.
    has_memsw = os.path.exists(memsw)
    current = _read_int(limit_file)
    if has_memsw and limit > current:
        write(memsw, str(limit))
    write(limit_file, str(limit))
    if has_memsw and limit <= current:
        write(memsw, str(limit))
    with contextlib.suppress(OSError):
        write(os.path.join(directory, "memory.swappiness"), "0")


def _enable_v2_controllers(parent: Path) -> None:
    for node in [*reversed(parent.parents), parent]:
        if node == ROOT.parent or not str(node).startswith(str(ROOT)):
            continue
        control = node / "cgroup.subtree_control"
        if control.exists():
            with contextlib.suppress(OSError):
                write(str(control), "+memory +cpu +pids")


def _read(path: str) -> str:
    try:
        with open(path) as handle:
            return handle.read()
    except FileNotFoundError:
        return ""


def _read_int(path: str) -> int:
    value = _read(path).strip()
    return int(value) if value.isdigit() else 0


def _v2_parent() -> Path:
    # v2 forbids processes in inner nodes: pods go beside us, under our parent.
    base = ROOT / _own_path("").lstrip("/")
    return base.parent if base != ROOT else ROOT


def owned_pods(group: str) -> list[str]:
    """Pod ids of installation `group` that have a cgroup (to find orphans)."""
    if version() == 2:
        base = _v2_parent() / group
    else:
        base = ROOT / "pids" / _own_path("pids").lstrip("/") / group
    try:
        return sorted(entry.name for entry in base.iterdir() if entry.is_dir())
    except FileNotFoundError:
        return []
