"""The driver interface every runtime implements, and the values that cross it.

A pod is a set of services (app, web server, workers, …) that share one filesystem, one
network address and one set of limits. The pods domain describes what a pod should be in a
`PodSpec`; a driver makes it so and reports a normalised `PodState`. Drivers declare what
they can do in `capabilities` instead of raising NotImplementedError, and raise only the
errors of `instapods.runtime.errors`. The contract suite in tests/runtime/ runs against every
registered driver.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from instapods.runtime.files import PodFiles


class Capability(StrEnum):
    LIVE_RESIZE = "live_resize"  # limits change without a restart
    DISK_QUOTA = "disk_quota"  # the pod's files are capped at its plan's disk
    NETWORK_ISOLATION = "network_isolation"  # own address; no access to host or other pods
    ADOPT = "adopt"  # pods survive a control-plane restart and are taken back


class PodStatus(StrEnum):
    """The runtime's view of a pod, normalised across drivers."""

    ABSENT = "absent"  # the runtime has nothing for this id
    STOPPED = "stopped"  # created (storage, network) but no service runs
    STARTING = "starting"  # services launched, not all ready yet
    RUNNING = "running"  # every service runs
    DEGRADED = "degraded"  # some service is crashed or restarting
    ERROR = "error"


@dataclass(frozen=True)
class Resources:
    cpu: float
    memory_mb: int
    disk_gb: float
    pids: int = 512


@dataclass(frozen=True)
class ServiceSpec:
    """One supervised process of a pod. `argv[0]` is an absolute path inside the pod."""

    name: str
    argv: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: str = "/home/instapod/app"
    port: int | None = None  # a TCP port the service must listen on before it counts as up
    files: Mapping[str, str] = field(default_factory=dict)  # pod path -> content (read-only)


@dataclass(frozen=True)
class PodSpec:
    id: str
    name: str
    resources: Resources
    slot: int  # a small integer unique on this host: the driver derives uid and address
    services: tuple[ServiceSpec, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ServiceState:
    name: str
    running: bool
    pid: int | None = None
    restarts: int = 0
    last_exit_code: int | None = None
    oom_killed: bool = False
    crash_loop: bool = False
    started_at: datetime | None = None


@dataclass(frozen=True)
class PodState:
    status: PodStatus
    address: str | None = None  # where the edge reaches the pod (IP)
    services: tuple[ServiceState, ...] = ()
    message: str | None = None


@dataclass(frozen=True)
class ExecResult:
    exit_code: int
    stdout: str
    stderr: str
    duration_ms: int
    timed_out: bool


@dataclass(frozen=True)
class LogLine:
    timestamp: datetime
    service: str
    stream: str  # stdout | stderr
    message: str


@dataclass(frozen=True)
class RuntimeEvent:
    """Something that happened to a pod on its own: a crash, an OOM kill, a crash loop."""

    pod_id: str
    type: str  # crashed | oom_killed | crash_loop | restarted
    message: str
    service: str | None = None


@dataclass(frozen=True)
class Usage:
    cpu_usage_ns: int
    memory_bytes: int
    disk_bytes: int
    disk_limit_bytes: int
    processes: int


class Driver(abc.ABC):
    """A pod runtime. Every method is idempotent where the name suggests it (stop, destroy)."""

    name: str
    capabilities: frozenset[Capability]

    @abc.abstractmethod
    async def open(self) -> None:
        """Prepare the host (firewall, directories) and take back pods that still run."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Stop watching pods; the pods themselves keep running."""

    @abc.abstractmethod
    async def create(self, spec: PodSpec) -> None:
        """Allocate storage, network and limits for a pod; start nothing."""

    @abc.abstractmethod
    async def start(self, spec: PodSpec) -> PodState:
        """Start every service of the spec (replacing what runs) and wait until they are up."""

    @abc.abstractmethod
    async def stop(self, pod_id: str) -> None:
        """Stop every process of the pod; storage and network stay."""

    @abc.abstractmethod
    async def restart_service(self, spec: PodSpec, service: str) -> None:
        """Restart one service with its definition from `spec`."""

    @abc.abstractmethod
    async def state(self, pod_id: str) -> PodState:
        """The live state, read from the host."""

    @abc.abstractmethod
    async def exec(
        self,
        spec: PodSpec,
        argv: Sequence[str],
        *,
        timeout: float,
        env: Mapping[str, str] | None = None,
        cwd: str = "/home/instapod/app",
        stdin: bytes | None = None,
        log_as: str | None = None,
    ) -> ExecResult:
        """Run a command inside the pod as its user and wait for it (killed at `timeout`).
        With `log_as`, its output also goes to the pod's logs under that service name."""

    @abc.abstractmethod
    async def logs(self, pod_id: str, service: str | None, lines: int) -> list[LogLine]:
        """The last `lines` lines of one service's output, or of all services merged."""

    @abc.abstractmethod
    async def resize(self, spec: PodSpec) -> None:
        """Apply `spec.resources` (limits, disk size); DiskTooSmall if the files won't fit."""

    @abc.abstractmethod
    async def usage(self, pod_id: str) -> Usage:
        """Resource use measured from the pod's own cgroup and disk."""

    @abc.abstractmethod
    async def destroy(self, pod_id: str) -> None:
        """Remove everything of the pod: processes, network, limits, storage."""

    @abc.abstractmethod
    async def adopt(self, specs: Sequence[PodSpec]) -> list[str]:
        """Take back these pods after a restart (restarting dead services of running pods) and
        destroy whatever the runtime holds that is not among them; returns destroyed ids."""

    @abc.abstractmethod
    async def trial(self, spec: PodSpec, service: str, timeout: float) -> tuple[bool, str]:
        """Start `service` of `spec` apart from the running one (its own network, same files
        and limits) and report whether it comes up listening on its port, with its output."""

    @abc.abstractmethod
    async def copy_files(self, source_id: str, target_id: str) -> None:
        """Copy the files of one pod (home, /var/www) into another, owned by the target."""

    @abc.abstractmethod
    def files(self, spec: PodSpec) -> PodFiles:
        """The pod's files (instapods.runtime.files), whether it runs or is stopped."""

    @abc.abstractmethod
    def slot_free(self, slot: int) -> bool:
        """Whether nothing on the host (of any installation) uses this slot yet."""

    @abc.abstractmethod
    def events(self) -> list[RuntimeEvent]:
        """Events since the last call (crashes, OOM kills, crash loops)."""
