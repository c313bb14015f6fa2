"""What the runtime tests see of a driver from outside its interface, and small helpers.

A `Host` answers the questions the driver interface does not (which processes a pod has on
the host, where its limits are written, what is left of it after `destroy`), so the same
tests run against every driver: a new driver adds its `Host` to `HOSTS` and its factory to
`DRIVERS` in conftest.py.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import (
    AbstractAsyncContextManager,
    AbstractContextManager,
    asynccontextmanager,
    contextmanager,
)
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import httpx
import pytest

from instapods.runtime.base import Driver, ExecResult, PodSpec, ServiceSpec
from instapods.runtime.drivers.sandbox import supervise
from instapods.runtime.drivers.sandbox.cgroups import PodCgroup
from instapods.runtime.drivers.sandbox.driver import SandboxDriver
from instapods.runtime.drivers.sandbox.host import alive, start_time
from instapods.runtime.drivers.sandbox.network import PodNetwork

T = TypeVar("T")
PYTHON = "/usr/bin/python3"


@dataclass(frozen=True)
class Trace:
    """One thing the runtime holds on the host for a pod (a directory, a namespace, …)."""

    what: str
    present: Callable[[], bool]


class Host(abc.ABC):
    """The host side of one driver, for checks the driver interface cannot make."""

    def __init__(self, driver: Driver) -> None:
        self.driver = driver

    @abc.abstractmethod
    def processes(self, pod_id: str) -> list[int]:
        """Host PIDs of every process the pod has."""

    @abc.abstractmethod
    def memory_limit(self, pod_id: str) -> int:
        """The memory limit in force for the pod, in bytes, read where the kernel takes it."""

    @abc.abstractmethod
    def host_uid(self, pod_id: str) -> int:
        """The unprivileged host uid the pod's processes run as."""

    @abc.abstractmethod
    def state_dir(self, pod_id: str) -> Path:
        """Where the runtime keeps the pod on the host."""

    @abc.abstractmethod
    def traces(self, pod_id: str) -> list[Trace]:
        """Everything the runtime holds for the pod on the host (all gone after destroy)."""

    @abc.abstractmethod
    def kill_service(self, pod_id: str, service: str) -> None:
        """Kill a service's processes behind the driver's back (no driver watching)."""

    @abc.abstractmethod
    def reopen(self) -> AbstractAsyncContextManager[Driver]:
        """A second driver on the same host state, as after a restart of the control plane."""

    @abc.abstractmethod
    def quick_restarts(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Make the restart backoff after a crash tens of milliseconds instead of seconds."""

    @abc.abstractmethod
    def disk_held(self, pod_id: str, seconds: float) -> AbstractContextManager[None]:
        """Keep the pod's filesystem in use from outside the pod for `seconds`, as the kernel
        does for a moment after the pod's last processes are killed."""


class SandboxHost(Host):
    def __init__(self, driver: Driver) -> None:
        assert isinstance(driver, SandboxDriver)
        super().__init__(driver)
        self.sandbox = driver

    def _cgroup(self, pod_id: str) -> PodCgroup:
        data = json.loads((self.state_dir(pod_id) / "cgroup.json").read_text())
        return PodCgroup(dict(data["paths"]), int(data["version"]))

    def _slot(self, pod_id: str) -> int:
        return int((self.state_dir(pod_id) / "slot").read_text())

    def processes(self, pod_id: str) -> list[int]:
        return self._cgroup(pod_id).pids()

    def memory_limit(self, pod_id: str) -> int:
        cgroup = self._cgroup(pod_id)
        if cgroup.version == 2:
            return int(Path(cgroup.paths["unified"], "memory.max").read_text())
        return int(Path(cgroup.paths["memory"], "memory.limit_in_bytes").read_text())

    def host_uid(self, pod_id: str) -> int:
        return self.sandbox.uid_base + self._slot(pod_id)

    def state_dir(self, pod_id: str) -> Path:
        return self.sandbox.root / pod_id

    def traces(self, pod_id: str) -> list[Trace]:
        root = self.state_dir(pod_id)
        net = PodNetwork.for_slot(self.sandbox.pod_network, self._slot(pod_id))
        image, mountpoint = root / "disk.img", root / "disk"
        found = [
            Trace(f"directory {root}", _exists(root)),
            Trace(f"netns {net.netns}", _in_netns_list(net.netns)),
            Trace(f"veth {net.veth}", _exists(Path("/sys/class/net", net.veth))),
            Trace(f"mount {mountpoint}", _mounted(mountpoint)),
            Trace(f"loop device for {image}", _loop_device(image)),
        ]
        for path in self._cgroup(pod_id).paths.values():
            found.append(Trace(f"cgroup {path}", _exists(Path(path))))
        for pid in self.processes(pod_id):
            found.append(Trace(f"process {pid}", _alive(pid)))
        return found

    def kill_service(self, pod_id: str, service: str) -> None:
        launched = json.loads((self.state_dir(pod_id) / "run" / f"{service}.json").read_text())
        # SIGKILL to the sandbox's PID 1 ends every process of that PID namespace.
        os.kill(launched["child"], signal.SIGKILL)

    @asynccontextmanager
    async def _reopened(self) -> AsyncIterator[Driver]:
        again = SandboxDriver(self.sandbox.root, pod_network=self.sandbox.pod_network,
                              uid_base=self.sandbox.uid_base)  # fmt: skip
        await again.open()
        try:
            yield again
        finally:
            await again.close()

    def reopen(self) -> AbstractAsyncContextManager[Driver]:
        return self._reopened()

    def quick_restarts(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(supervise, "BACKOFF_BASE", 0.05)

    @contextmanager
    def disk_held(self, pod_id: str, seconds: float) -> Iterator[None]:
        # A process in a mount namespace of its own holds a copy of the disk's mount, as a
        # dying sandbox does.
        holder = subprocess.Popen(["unshare", "--mount", "--propagation", "private",
                                   "sleep", str(seconds)])  # fmt: skip
        try:
            yield
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.kill(holder.pid, signal.SIGKILL)
            holder.wait()


def _exists(path: Path) -> Callable[[], bool]:
    return path.exists


def _in_netns_list(name: str) -> Callable[[], bool]:
    def check() -> bool:
        listing = subprocess.run(
            ["ip", "netns", "list"], capture_output=True, text=True, check=True
        )
        return name in (line.split(" ")[0] for line in listing.stdout.splitlines())

    return check


def _mounted(path: Path) -> Callable[[], bool]:
    def check() -> bool:
        mounts = Path("/proc/mounts").read_text().splitlines()
        return any(line.split(" ")[1] == str(path) for line in mounts)

    return check


def _loop_device(image: Path) -> Callable[[], bool]:
    def check() -> bool:
        listing = subprocess.run(
            ["losetup", "--list", "--noheadings", "--output", "BACK-FILE"],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        # (`losetup -j IMAGE` needs the file to exist; the list shows deleted ones too.)
        return any(line.strip().startswith(str(image)) for line in listing.stdout.splitlines())

    return check


def _alive(pid: int) -> Callable[[], bool]:
    started = start_time(pid)
    return lambda: alive(pid, started)


# -- helpers ---------------------------------------------------------------------------------


def python_service(name: str, code: str, port: int | None = None) -> ServiceSpec:
    """A service running a Python program (unbuffered, so its output reaches the logs)."""
    return ServiceSpec(name, (PYTHON, "-u", "-c", code), port=port)


async def run_python(
    driver: Driver, spec: PodSpec, code: str, *args: str, timeout: float = 30.0
) -> ExecResult:
    return await driver.exec(spec, [PYTHON, "-c", code, *args], timeout=timeout)


async def http_status(address: str | None, port: int, timeout: float = 5.0) -> int:
    """The status of GET / at address:port from the host (no proxy from the environment)."""
    assert address is not None
    async with httpx.AsyncClient(trust_env=False, timeout=timeout) as client:
        return (await client.get(f"http://{address}:{port}/")).status_code


async def answers(address: str | None, port: int) -> bool:
    """Whether GET / at address:port answers 200 from the host (False while it cannot connect)."""
    try:
        return await http_status(address, port, timeout=2.0) == 200
    except httpx.TransportError:
        return False


async def eventually(
    probe: Callable[[], Awaitable[T]], accept: Callable[[T], bool], timeout: float = 15.0
) -> T:
    """Poll `probe` until `accept` takes its value; fail with the last value after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = await probe()
        if accept(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"still not there after {timeout}s: {value!r}")
        await asyncio.sleep(0.05)


def present(traces: Sequence[Trace]) -> list[str]:
    """What of these is still on the host."""
    return [trace.what for trace in traces if trace.present()]


def remove_quietly(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.rmdir()
