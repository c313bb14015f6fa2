"""The sandbox driver: the default runtime, for one Linux host.

See docs/architecture.md ("The sandbox runtime") for the whole picture. On the host, a pod is
the directory `<root>/<pod id>/` (its disk image and mount, its /etc, its service state and
logs), a network namespace `ipod-<slot>`, a cgroup, and the processes in them.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import shutil
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from instapods.config import Settings
from instapods.runtime import registry
from instapods.runtime.base import (
    Capability,
    Driver,
    ExecResult,
    LogLine,
    PodSpec,
    PodState,
    PodStatus,
    RuntimeEvent,
    ServiceSpec,
    Usage,
)
from instapods.runtime.drivers.sandbox import cgroups, host, network, process
from instapods.runtime.drivers.sandbox.cgroups import PodCgroup
from instapods.runtime.drivers.sandbox.files import (
    Agent,
    AgentPool,
    SandboxFiles,
    agent_argv,
    start_agent,
)
from instapods.runtime.drivers.sandbox.logs import ServiceLog
from instapods.runtime.drivers.sandbox.network import PodNetwork
from instapods.runtime.drivers.sandbox.sandbox import SandboxView, base_env, etc_files
from instapods.runtime.drivers.sandbox.storage import GIB, PodDisk
from instapods.runtime.drivers.sandbox.supervise import (
    STABLE_AFTER,
    Supervised,
    Watcher,
    crash_event,
)
from instapods.runtime.errors import DiskTooSmall, PodNotFound, RuntimeDriverError

log = logging.getLogger("instapods.runtime")

MIB = 1024**2
STOP_GRACE = 5.0
EXEC_OUTPUT_LIMIT = 1024 * 1024
COLLECT_EVERY = 0.25


@dataclass
class HostPod:
    """What the driver keeps of a pod in memory (rebuilt from disk at adoption)."""

    id: str
    slot: int
    uid: int
    root: Path
    cgroup: PodCgroup
    net: PodNetwork
    disk: PodDisk
    spec: PodSpec | None = None  # the last definition the control plane gave
    services: dict[str, Supervised] = field(default_factory=dict)
    logs: dict[str, ServiceLog] = field(default_factory=dict)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    files: AgentPool | None = None  # the files agents, once a file operation needed one

    @property
    def run(self) -> Path:
        return self.root / "run"

    @property
    def log_dir(self) -> Path:
        return self.root / "logs"

    def desired_running(self) -> bool:
        return (self.root / "running").exists()

    def set_desired(self, running: bool) -> None:
        marker = self.root / "running"
        if running:
            marker.touch()
        else:
            marker.unlink(missing_ok=True)


class SandboxDriver(Driver):
    name = "sandbox"
    capabilities = frozenset(
        {Capability.LIVE_RESIZE, Capability.DISK_QUOTA, Capability.NETWORK_ISOLATION,
         Capability.ADOPT}
    )  # fmt: skip

    def __init__(
        self,
        root: Path,
        *,
        pod_network: str = "10.250.0.0/16",
        uid_base: int = 200_000,
        extra_ro: Sequence[str] = (),
        allowed_networks: Sequence[str] = (),
        log_max_bytes: int = 10 * MIB,
        ready_timeout: float = 30.0,
    ) -> None:
        self.root = root
        # Cgroups of this installation (one per pods directory) live apart from any other's.
        self.group = "instapods-" + hashlib.sha256(str(root).encode()).hexdigest()[:10]
        self.pod_network = pod_network
        self.uid_base = uid_base
        self.extra_ro = tuple(extra_ro)
        self.allowed_networks = tuple(allowed_networks)
        self.log_max_bytes = log_max_bytes
        self.ready_timeout = ready_timeout
        self.resolvers = network.resolvers()
        self.pods: dict[str, HostPod] = {}
        self.watcher = Watcher(self._on_exit)
        self._events: list[RuntimeEvent] = []
        self._collector: asyncio.Task[None] | None = None

    # -- lifecycle of the driver ---------------------------------------------------------

    async def open(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o711)
        _check_traversable(self.root)
        await network.install_firewall(self.pod_network, self.resolvers, self.allowed_networks)
        self._collector = asyncio.create_task(self._collect_forever())

    async def close(self) -> None:
        if self._collector is not None:
            self._collector.cancel()
            await asyncio.gather(self._collector, return_exceptions=True)
        for pod in self.pods.values():
            for service in pod.services.values():
                self.watcher.unwatch(service)
                if service.pending is not None:
                    service.pending.cancel()
            self._collect(pod)
        self.pods.clear()
        if not any(self.root.iterdir()):  # no pod left: leave no empty cgroup behind
            for path in PodCgroup.plan(self.group, "-").paths.values():
                with contextlib.suppress(OSError):
                    os.rmdir(os.path.dirname(path))

    # -- building blocks -----------------------------------------------------------------

    def _host_pod(self, spec: PodSpec) -> HostPod:
        pod = self.pods.get(spec.id)
        if pod is None:
            root = self.root / spec.id
            cgroup = _load_cgroup(root) or PodCgroup.plan(self.group, spec.id)
            pod = HostPod(
                id=spec.id, slot=spec.slot, uid=self.uid_base + spec.slot, root=root,
                cgroup=cgroup, net=PodNetwork.for_slot(self.pod_network, spec.slot),
                disk=PodDisk(root / "disk.img", root / "disk"),
            )  # fmt: skip
            self.pods[spec.id] = pod
        pod.spec = spec
        return pod

    def _known(self, pod_id: str) -> HostPod:
        pod = self.pods.get(pod_id)
        if pod is None:
            raise PodNotFound(f"no pod {pod_id} on this host")
        return pod

    def _view(self, pod: HostPod, spec: PodSpec) -> SandboxView:
        return SandboxView(hostname=spec.name, uid=pod.uid, netns_path=pod.net.netns_path,
                           disk=pod.disk.mountpoint, etc=pod.root / "etc",
                           extra_ro=self.extra_ro)  # fmt: skip

    def _write_etc(self, pod: HostPod, spec: PodSpec) -> None:
        etc = pod.root / "etc"
        _private_dir(etc, pod.uid)
        for name, content in etc_files(spec.name, pod.net.pod_ip, self.resolvers).items():
            _write_file(etc / name, content)

    async def _ensure_host(self, pod: HostPod, spec: PodSpec) -> None:
        """Bring back what a host reboot or a crash may have taken: mount, netns, cgroup."""
        if not pod.disk.image.exists():
            raise PodNotFound(f"pod {spec.id} has no disk on this host")
        await pod.disk.mount()
        if not pod.net.exists() or not (pod.root / "network").exists():
            await self._make_network(pod)
        pod.cgroup.create()
        _save_cgroup(pod.root, pod.cgroup)
        res = spec.resources
        pod.cgroup.set_limits(res.cpu, res.memory_mb * MIB, res.pids)
        self._write_etc(pod, spec)
        for directory in (pod.run, pod.log_dir):
            directory.mkdir(mode=0o700, exist_ok=True)

    async def _make_network(self, pod: HostPod) -> None:
        """(Re)make the pod's network; the marker says it was finished, not cut off."""
        (pod.root / "network").unlink(missing_ok=True)
        await pod.net.create()
        (pod.root / "network").touch()

    # -- the interface ---------------------------------------------------------------------

    async def create(self, spec: PodSpec) -> None:
        pod = self._host_pod(spec)
        async with pod.lock:
            _private_dir(pod.root, pod.uid)
            _write_file(pod.root / "slot", str(spec.slot))
            if not pod.disk.image.exists():
                # A first (or cut-off first) create: the disk and the network are made side by
                # side, the network afresh, since a half-made one would look complete later.
                await asyncio.gather(
                    pod.disk.create(int(spec.resources.disk_gb * GIB), pod.uid),
                    self._make_network(pod),
                )
            await self._ensure_host(pod, spec)
            pod.disk.prepare(pod.uid)

    async def start(self, spec: PodSpec) -> PodState:
        if spec.id not in self.pods and not (self.root / spec.id / "disk.img").exists():
            raise PodNotFound(f"no pod {spec.id} on this host")  # and no phantom entry for it
        pod = self._host_pod(spec)
        async with pod.lock:
            await self._ensure_host(pod, spec)
            _save_spec(pod.root, spec)
            pod.set_desired(True)
            for service in list(pod.services.values()):
                await self._stop_service(pod, service)
            pod.services.clear()
            for service_spec in spec.services:
                await self._launch(pod, spec, service_spec)
            await self._wait_ready(pod)
        return await self.state(spec.id)

    async def stop(self, pod_id: str) -> None:
        pod = self.pods.get(pod_id)
        if pod is None:
            return
        async with pod.lock:
            pod.set_desired(False)
            await self._stop_all(pod)

    async def _stop_all(self, pod: HostPod) -> None:
        if pod.files is not None:
            await pod.files.close_idle()  # busy ones end with the uid's processes below
        await asyncio.gather(*(self._stop_service(pod, s) for s in pod.services.values()))
        pod.services.clear()
        await asyncio.to_thread(pod.cgroup.kill_all)
        process.kill_uid(pod.uid)
        self._collect(pod)

    async def restart_service(self, spec: PodSpec, service: str) -> None:
        pod = self._known(spec.id)
        pod.spec = spec
        wanted = {s.name: s for s in spec.services}
        if service not in wanted:
            raise RuntimeDriverError(f"pod {spec.name} has no service {service!r}")
        async with pod.lock:
            current = pod.services.pop(service, None)
            if current is not None:
                await self._stop_service(pod, current)
            await self._launch(pod, spec, wanted[service])
            await self._wait_ready(pod, only=service)

    async def state(self, pod_id: str) -> PodState:
        pod = self.pods.get(pod_id)
        if pod is None:
            if (self.root / pod_id / "disk.img").exists():
                return PodState(PodStatus.STOPPED)
            return PodState(PodStatus.ABSENT)
        services = tuple(s.state() for s in pod.services.values())
        address = pod.net.pod_ip
        if not pod.desired_running() or not services:
            return PodState(PodStatus.STOPPED, address, services)
        if all(s.running for s in services):
            return PodState(PodStatus.RUNNING, address, services)
        looping = [s.name for s in services if s.crash_loop]
        down = [s for s in services if not s.running]
        if looping:
            message = f"crash loop: {', '.join(looping)} keeps exiting"
        else:
            message = "; ".join(
                f"{s.name} {'ran out of memory' if s.oom_killed else 'exited'} "
                f"(code {s.last_exit_code}), restarting"
                for s in down
            )
        return PodState(PodStatus.DEGRADED, address, services, message)

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
        pod = self._known(spec.id)
        if not pod.disk.mounted() or not pod.net.exists():
            await self._ensure_host(pod, spec)
        full_env = {**base_env(spec.name), **spec.env, **(env or {})}
        view = self._view(pod, spec)
        result = await _run_exec(
            lambda fds: view.command(argv, full_env, cwd, fds), pod, timeout, stdin
        )
        if log_as is not None:
            service_log = ServiceLog(pod.log_dir, log_as, self.log_max_bytes, pod.uid)
            service_log.append_output(result.stdout, result.stderr)
        return result

    async def logs(self, pod_id: str, service: str | None, lines: int) -> list[LogLine]:
        pod = self._known(pod_id) if pod_id in self.pods else None
        log_dir = pod.log_dir if pod else self.root / pod_id / "logs"
        if not log_dir.exists():
            return []
        if pod is not None:
            self._collect(pod)
        names = [service] if service else sorted(
            p.name[: -len(".log")] for p in log_dir.glob("*.log")
        )  # fmt: skip
        found: list[LogLine] = []
        for name in names:
            found += ServiceLog(log_dir, name, self.log_max_bytes).tail(lines)
        found.sort(key=lambda line: line.timestamp)
        return found[-lines:]

    async def resize(self, spec: PodSpec) -> None:
        pod = self._known(spec.id)
        pod.spec = spec
        async with pod.lock:
            res = spec.resources
            wanted = int(res.disk_gb * GIB)
            used, _ = pod.disk.usage()
            if wanted < pod.disk.size() and used > wanted * 0.95:  # refuse before any change
                raise DiskTooSmall(
                    f"the pod uses {used // MIB} MiB, more than the {wanted // MIB} MiB "
                    "of the new plan"
                )
            pod.cgroup.set_limits(res.cpu, res.memory_mb * MIB, res.pids)
            current = pod.disk.size()
            if wanted > current:
                try:
                    await pod.disk.grow(wanted)
                except RuntimeDriverError:  # online resize needs CAP_SYS_RESOURCE, root may lack it
                    await self._resize_offline(pod, spec, wanted)
            elif wanted < current:
                await self._resize_offline(pod, spec, wanted)

    async def _resize_offline(self, pod: HostPod, spec: PodSpec, size: int) -> None:
        """Stop the pod, resize its unmounted disk, and start its services again (also when
        the resize fails)."""
        used, _ = pod.disk.usage()
        if used > size * 0.95:
            raise DiskTooSmall(
                f"the pod uses {used // MIB} MiB, more than the {size // MIB} MiB of the new plan"
            )
        was_running = pod.desired_running()
        if pod.files is not None:
            pod.files.paused = True
        await self._stop_all(pod)
        try:
            await pod.disk.shrink(size)
        finally:
            if pod.files is not None:
                pod.files.paused = False
            if was_running and pod.disk.mounted():
                for service_spec in spec.services:
                    await self._launch(pod, spec, service_spec)

    async def usage(self, pod_id: str) -> Usage:
        pod = self._known(pod_id)
        used, capacity = pod.disk.usage() if pod.disk.mounted() else (0, 0)
        return Usage(
            cpu_usage_ns=pod.cgroup.cpu_usage_ns(),
            memory_bytes=pod.cgroup.memory_bytes(),
            disk_bytes=used,
            disk_limit_bytes=capacity,
            processes=len(pod.cgroup.pids()),
        )

    async def destroy(self, pod_id: str) -> None:
        pod = self.pods.pop(pod_id, None)
        root = self.root / pod_id
        if pod is None:
            pod = _pod_from_disk(self, root)
            if pod is None:
                return
        async with pod.lock:
            pod.set_desired(False)
            if pod.files is not None:
                pod.files.paused = True
                await pod.files.close_idle()
            for service in pod.services.values():
                self.watcher.unwatch(service)
                if service.pending is not None:
                    service.pending.cancel()
            await asyncio.to_thread(pod.cgroup.remove)
            process.kill_uid(pod.uid)
            await pod.net.delete()
            await pod.disk.destroy()
            shutil.rmtree(root, ignore_errors=True)

    async def adopt(self, specs: Sequence[PodSpec]) -> list[str]:
        wanted = {spec.id: spec for spec in specs}
        destroyed = await self._remove_orphans(wanted)
        for spec in specs:
            root = self.root / spec.id
            if not (root / "disk.img").exists():
                continue
            if not spec.services:  # the services it last ran, as start() saved them
                spec = _load_spec(root, spec)
            pod = self._host_pod(spec)
            try:
                async with pod.lock:
                    await self._ensure_host(pod, spec)
                    if pod.desired_running():
                        await self._readopt_services(pod, spec)
            except (RuntimeDriverError, OSError) as exc:  # the others are taken back anyway
                log.error("could not take back pod %s: %s", spec.id, exc)
                self._events.append(RuntimeEvent(spec.id, "error", f"Not taken back: {exc}"))
        return destroyed

    async def _readopt_services(self, pod: HostPod, spec: PodSpec) -> None:
        for service_spec in spec.services:
            launched = process.Launched.load(pod.run / f"{service_spec.name}.json")
            if launched is not None and launched.alive():
                service = Supervised(pod.id, service_spec, launched=launched,
                                     oom_baseline=pod.cgroup.oom_kills())  # fmt: skip
                pod.services[service_spec.name] = service
                pod.logs[service_spec.name] = ServiceLog(pod.log_dir, service_spec.name,
                                                         self.log_max_bytes)  # fmt: skip
                self.watcher.watch(service)
            else:
                await self._launch(pod, spec, service_spec)

    async def _remove_orphans(self, wanted: Mapping[str, PodSpec]) -> list[str]:
        destroyed = []
        if self.root.exists():
            for entry in sorted(self.root.iterdir()):
                if entry.is_dir() and entry.name not in wanted:
                    await self.destroy(entry.name)
                    destroyed.append(entry.name)
        for pod_id in cgroups.owned_pods(self.group):
            if pod_id not in wanted:
                await asyncio.to_thread(PodCgroup.plan(self.group, pod_id).remove)
        return destroyed

    def events(self) -> list[RuntimeEvent]:
        events, self._events = self._events, []
        return events

    def files(self, spec: PodSpec) -> SandboxFiles:
        pod = self._known(spec.id)
        if pod.files is None:
            pod.files = AgentPool(lambda: self._start_files_agent(pod, spec))
        return SandboxFiles(pod.files)

    async def _start_files_agent(self, pod: HostPod, first: PodSpec) -> Agent:
        spec = pod.spec or first
        if not pod.disk.mounted() or not pod.net.exists():
            async with pod.lock:
                await self._ensure_host(pod, spec)
        view = self._view(pod, spec)
        env = base_env(spec.name)
        return await start_agent(
            lambda fds, sock: view.command(agent_argv(sock), env, "/", fds),
            pod.cgroup,
            pod.run / "files-agent.err",
        )

    def slot_free(self, slot: int) -> bool:
        net = PodNetwork.for_slot(self.pod_network, slot)
        return not net.exists() and not os.path.exists(f"/sys/class/net/{net.veth}")

    async def trial(self, spec: PodSpec, service: str, timeout: float) -> tuple[bool, str]:
        pod = self._known(spec.id)
        service_spec = next((s for s in spec.services if s.name == service), None)
        if service_spec is None:
            raise RuntimeDriverError(f"pod {spec.name} has no service {service!r}")
        files = self._service_files(pod, service_spec, suffix="-trial")
        env = {**base_env(spec.name), **spec.env, **service_spec.env}
        view = self._view(pod, spec)
        output = pod.run / f"{service}.trial"
        fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            popen, launched = await asyncio.to_thread(
                process.launch,
                lambda fds: view.command(
                    service_spec.argv, env, service_spec.cwd, fds, files, own_network=True
                ),
                pod.cgroup,
                stdout=fd,
                stderr=fd,
                status_path=pod.run / f"{service}.trial-status",
            )
        finally:
            os.close(fd)
        try:
            ok = await _comes_up(launched, service_spec.port, timeout)
        finally:
            await process.terminate(launched, grace=1.0)
            popen.poll()
        return ok, _tail(output)

    async def copy_files(self, source_id: str, target_id: str) -> None:
        source, target = self.root / source_id / "disk", self._known(target_id)
        if not os.path.ismount(source):
            raise PodNotFound(f"pod {source_id} has no mounted disk on this host")
        for area in ("home", "www"):
            destination = target.disk.area(area)
            await host.must(["cp", "-a", "--reflink=auto", "--", f"{source / area}/.",
                             f"{destination}/"], timeout=3600)  # fmt: skip
            await host.must(["chown", "-R", "-P", f"{target.uid}:{target.uid}", "--",
                             str(destination)], timeout=3600)  # fmt: skip

    # -- services --------------------------------------------------------------------------

    async def _launch(self, pod: HostPod, spec: PodSpec, service_spec: ServiceSpec) -> None:
        files = self._service_files(pod, service_spec)
        service_log = ServiceLog(pod.log_dir, service_spec.name, self.log_max_bytes, pod.uid)
        env = {**base_env(spec.name), **spec.env, **service_spec.env}
        view = self._view(pod, spec)
        out, err = service_log.open_raw("stdout"), service_log.open_raw("stderr")
        try:
            popen, launched = await asyncio.to_thread(
                process.launch,
                lambda fds: view.command(service_spec.argv, env, service_spec.cwd, fds, files),
                pod.cgroup,
                stdout=out,
                stderr=err,
                status_path=pod.run / f"{service_spec.name}.status",
            )
        finally:
            os.close(out)
            os.close(err)
        launched.save(pod.run / f"{service_spec.name}.json")
        previous = pod.services.get(service_spec.name)
        service = Supervised(pod.id, service_spec, launched=launched, process=popen,
                             oom_baseline=pod.cgroup.oom_kills())  # fmt: skip
        if previous is not None:
            service.restarts, service.crashes = previous.restarts, previous.crashes
            service.consecutive = previous.consecutive
            service.last_exit_code = previous.last_exit_code  # why it was restarted
            service.oom_killed = previous.oom_killed
        pod.services[service_spec.name] = service
        pod.logs[service_spec.name] = service_log
        self.watcher.watch(service)

    def _service_files(
        self, pod: HostPod, service_spec: ServiceSpec, suffix: str = ""
    ) -> dict[str, Path]:
        _private_dir(pod.root / "conf", pod.uid)
        directory = pod.root / "conf" / f"{service_spec.name}{suffix}"
        shutil.rmtree(directory, ignore_errors=True)
        _private_dir(directory, pod.uid)
        mapping = {}
        for index, (pod_path, content) in enumerate(sorted(service_spec.files.items())):
            host_path = directory / f"{index}-{os.path.basename(pod_path)}"
            _write_file(host_path, content)
            mapping[pod_path] = host_path
        return mapping

    async def _stop_service(self, pod: HostPod, service: Supervised) -> None:
        service.stopping = True
        if service.pending is not None:
            service.pending.cancel()
        self.watcher.unwatch(service)
        if service.launched is not None:
            await process.terminate(service.launched, STOP_GRACE)
        (pod.run / f"{service.spec.name}.json").unlink(missing_ok=True)

    async def _wait_ready(self, pod: HostPod, only: str | None = None) -> None:
        """Wait until every service with a port listens on it (or dies, or time runs out).
        The pod's own socket table is read, so a service on 127.0.0.1 counts too."""
        deadline = time.monotonic() + self.ready_timeout
        for service in list(pod.services.values()):
            if service.spec.port is None or (only and service.spec.name != only):
                continue
            launched = service.launched
            while launched and time.monotonic() < deadline and service.running():
                if _listening(launched.child, service.spec.port):
                    break
                await asyncio.sleep(0.003)

    async def _on_exit(self, service: Supervised) -> None:
        pod = self.pods.get(service.pod_id)
        if pod is None or service.stopping or pod.services.get(service.spec.name) is not service:
            return
        code = process.read_exit_code(pod.run / f"{service.spec.name}.status")
        oom = pod.cgroup.oom_kills() > service.oom_baseline
        service.last_exit_code, service.oom_killed = code, oom
        now = time.monotonic()
        ran = time.time() - (service.launched.launched_at if service.launched else time.time())
        service.consecutive = 1 if ran > STABLE_AFTER else service.consecutive + 1
        service.crashes.append(now)
        event = crash_event(service, code, oom)
        self._events.append(event)
        self._collect(pod)
        pod.logs[service.spec.name].note(event.message)
        if service.crash_loop():
            self._events.append(RuntimeEvent(pod.id, "crash_loop",
                                             f"{service.spec.name} keeps crashing",
                                             service.spec.name))  # fmt: skip
        delay = service.backoff()
        log.info("pod %s: %s; restarting in %.0fs", pod.id, event.message, delay)
        service.pending = asyncio.create_task(self._restart_later(pod, service, delay))

    async def _restart_later(self, pod: HostPod, service: Supervised, delay: float) -> None:
        await asyncio.sleep(delay)
        async with pod.lock:
            if service.stopping or pod.services.get(service.spec.name) is not service:
                return
            assert pod.spec is not None  # set before any service was launched
            await self._launch(pod, pod.spec, service.spec)
            pod.services[service.spec.name].restarts = service.restarts + 1
            self._events.append(RuntimeEvent(pod.id, "restarted",
                                             f"{service.spec.name} restarted",
                                             service.spec.name))  # fmt: skip

    # -- logs ------------------------------------------------------------------------------

    def _collect(self, pod: HostPod) -> None:
        for service_log in pod.logs.values():
            try:
                service_log.collect()
            except OSError:
                log.warning("could not collect logs of %s", pod.id, exc_info=True)

    async def _collect_forever(self) -> None:
        while True:
            await asyncio.sleep(COLLECT_EVERY)
            for pod in list(self.pods.values()):
                self._collect(pod)
                if pod.files is not None and pod.files.idle:
                    await pod.files.reap()


# -- helpers --------------------------------------------------------------------------------


def _private_dir(path: Path, uid: int) -> None:
    """A directory root owns and only the pod's group may enter (bwrap opens it as the pod)."""
    path.mkdir(parents=True, exist_ok=True)
    os.chown(path, 0, uid)
    os.chmod(path, 0o750)


def _check_traversable(root: Path) -> None:
    """Pod processes start as the pod's user, who must be able to reach the pods directory."""
    for directory in [root, *root.parents]:
        if not os.stat(directory).st_mode & 0o001:
            raise RuntimeDriverError(
                f"pod users cannot reach {root}: {directory} is not searchable by others "
                "(chmod o+x it, or set INSTAPODS_PODS_DIR elsewhere)"
            )


def _write_file(path: Path, content: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(content)
    os.chmod(tmp, 0o644)
    tmp.replace(path)


def _save_spec(root: Path, spec: PodSpec) -> None:
    services = [
        {"name": s.name, "argv": list(s.argv), "env": dict(s.env), "cwd": s.cwd,
         "port": s.port, "files": dict(s.files)}
        for s in spec.services
    ]  # fmt: skip
    path = root / "services.json"
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # env may hold secrets
    with os.fdopen(fd, "w") as handle:
        json.dump(services, handle)
    tmp.replace(path)


def _load_spec(root: Path, spec: PodSpec) -> PodSpec:
    try:
        data = json.loads((root / "services.json").read_text())
    except (OSError, ValueError):
        return spec
    services = tuple(
        ServiceSpec(name=s["name"], argv=tuple(s["argv"]), env=s["env"], cwd=s["cwd"],
                    port=s["port"], files=s["files"])
        for s in data
    )  # fmt: skip
    return PodSpec(id=spec.id, name=spec.name, resources=spec.resources, slot=spec.slot,
                   services=services, env=spec.env)  # fmt: skip


def _save_cgroup(root: Path, cgroup: PodCgroup) -> None:
    _write_file(
        root / "cgroup.json", json.dumps({"version": cgroup.version, "paths": cgroup.paths})
    )


def _load_cgroup(root: Path) -> PodCgroup | None:
    try:
        data = json.loads((root / "cgroup.json").read_text())
        return PodCgroup(dict(data["paths"]), int(data["version"]))
    except (OSError, ValueError, KeyError):
        return None


def _pod_from_disk(driver: SandboxDriver, root: Path) -> HostPod | None:
    if not root.exists():
        return None
    cgroup = _load_cgroup(root) or PodCgroup.plan(driver.group, root.name)
    slot_file = root / "slot"
    slot = int(slot_file.read_text()) if slot_file.exists() else 0
    net = PodNetwork.for_slot(driver.pod_network, slot) if slot else PodNetwork(0, "", "")
    return HostPod(id=root.name, slot=slot, uid=driver.uid_base + slot, root=root, cgroup=cgroup,
                   net=net, disk=PodDisk(root / "disk.img", root / "disk"))  # fmt: skip


async def _comes_up(launched: process.Launched, port: int | None, timeout: float) -> bool:
    """Whether a trial process listens on `port` (read from its own network namespace's
    socket table) before it exits or time runs out; without a port, whether it stays up."""
    deadline = time.monotonic() + (timeout if port else min(timeout, 2.0))
    while time.monotonic() < deadline:
        if not launched.alive():
            return False
        if port and _listening(launched.child, port):
            return True
        await asyncio.sleep(0.02)
    return port is None and launched.alive()


def _listening(pid: int, port: int) -> bool:
    wanted = f":{port:04X}"
    for table in ("tcp", "tcp6"):
        try:
            with open(f"/proc/{pid}/net/{table}") as handle:
                next(handle, None)
                for line in handle:
                    fields = line.split()
                    if fields[1].endswith(wanted) and fields[3] == "0A":
                        return True
        except OSError:
            continue
    return False


def _tail(path: Path, size: int = 4000) -> str:
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - size))
            return handle.read().decode(errors="replace")
    except OSError:
        return ""


async def _run_exec(
    build: process.Builder, pod: HostPod, timeout: float, stdin: bytes | None
) -> ExecResult:
    cgroup, uid = pod.cgroup, pod.uid
    started = time.monotonic()
    gate = process.Gate(None)
    status_r, status_w = os.pipe()  # bwrap reports the command's own end here
    gate.fds["json-status-fd"] = status_w
    try:
        proc = await asyncio.create_subprocess_exec(
            *build(gate.fds),
            pass_fds=tuple(gate.fds.values()),
            stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
    finally:
        gate.spawned()
        os.close(status_w)
    try:
        launched = await asyncio.to_thread(gate.release, proc.pid, cgroup)
    except BaseException:
        gate.abandon()
        os.close(status_r)
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        raise
    assert proc.stdout is not None
    assert proc.stderr is not None
    if stdin is not None and proc.stdin is not None:
        proc.stdin.write(stdin)
        proc.stdin.close()
    out, err = bytearray(), bytearray()
    reading = asyncio.gather(_read_capped(proc.stdout, out), _read_capped(proc.stderr, err))
    timed_out = False
    ended = asyncio.ensure_future(asyncio.to_thread(process.wait_exit_code, status_r))
    try:
        code = await asyncio.wait_for(asyncio.shield(ended), timeout)
    except TimeoutError:
        timed_out, code = True, None
    # The sandbox's PID 1 ends whatever the command left behind (background processes that
    # would hold the pipes open); its end takes the whole PID namespace with it.
    process.kill_owned(launched.child, uid)
    await process.terminate(launched, grace=0)
    try:
        await asyncio.wait_for(asyncio.shield(reading), 5)
    except TimeoutError:
        reading.cancel()
    await proc.wait()
    await ended  # the pipe closed with the sandbox
    os.close(status_r)
    if code is None:
        code = proc.returncode if proc.returncode is not None else -1
    return ExecResult(
        exit_code=124 if timed_out else code,
        stdout=out.decode(errors="replace"),
        stderr=err.decode(errors="replace"),
        duration_ms=int((time.monotonic() - started) * 1000),
        timed_out=timed_out,
    )


async def _read_capped(stream: asyncio.StreamReader, kept: bytearray) -> None:
    while chunk := await stream.read(65536):
        if len(kept) < EXEC_OUTPUT_LIMIT:
            kept += chunk[: EXEC_OUTPUT_LIMIT - len(kept)]


def _from_settings(settings: Settings) -> Driver:
    return SandboxDriver(
        settings.resolved_pods_dir,
        pod_network=settings.pod_network,
        uid_base=settings.pod_uid_base,
        extra_ro=settings.pod_read_only_paths,
        allowed_networks=settings.pod_allowed_networks,
        log_max_bytes=settings.pod_log_max_bytes,
    )


registry.register("sandbox", _from_settings)
