"""A real `instapods server` for end-to-end tests, and what the tests see of the host.

`Platform` owns one server process (killed by PID, never by name), its data dir, its pods dir
and the account the tests act as. It talks HTTP to the edge on 127.0.0.1:PORT only: the API
with the control plane's host, pods with `Host: <pod>.localhost:PORT`.

Slots. The pods domain gives a new pod the lowest slot its own database has not used, and the
sandbox names a pod's network namespace, veth and uid after that slot only. So every
installation on a host (a developer's server, the in-process API tests, each e2e server) starts
at slot 1 and they take each other's `ipod-1` away. Until slots are host-wide, each e2e server
claims a block of slots no other e2e server uses and fills its database with deleted
placeholder pods below it, so its pods get slots from that block.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
from sqlalchemy import create_engine, insert

from instapods.edge.paths import EdgePaths
from instapods.edge.process import pid_alive, runs_config
from instapods.models import Pod
from instapods.runtime.drivers.sandbox.driver import SandboxDriver
from instapods.runtime.drivers.sandbox.network import PodNetwork
from tests.fixtures.sandbox import PODS_BASE

log = logging.getLogger(__name__)
T = TypeVar("T")
INSTAPODS = Path(sys.executable).parent / "instapods"
START_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0
UID_BASE = 200_000  # the default INSTAPODS_POD_UID_BASE
POD_NETWORK = "10.250.0.0/16"  # the default INSTAPODS_POD_NETWORK
NETNS_DIR = "/run/netns"
SLOT_BLOCKS = range(12_000, 16_000, 50)  # above the driver tests' slots (8000 + 500/worker)
EMAIL = "e2e@example.com"
PASSWORD = "correct horse battery staple"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def eventually(probe: Callable[[], T], accept: Callable[[T], bool], timeout: float, what: str) -> T:
    """Poll `probe` until `accept` takes its value; fail with the last value after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if accept(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: still not there after {timeout}s: {value!r}")
        time.sleep(0.05)


# -- slots ------------------------------------------------------------------------------------


@contextlib.contextmanager
def claimed_slot_block() -> Iterator[int]:
    """A block of slots no other live e2e server uses (claims are files holding a PID)."""
    claims = PODS_BASE / "e2e-slots"
    claims.mkdir(parents=True, exist_ok=True)
    mine: Path | None = None
    with open(PODS_BASE / "e2e-slots.lock", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        for base in SLOT_BLOCKS:
            claim = claims / str(base)
            with contextlib.suppress(OSError, ValueError):
                if pid_alive(int(claim.read_text())):
                    continue
            if any(Path(NETNS_DIR, f"ipod-{slot}").exists() for slot in _block(base)):
                continue  # someone else's pods still use it
            claim.write_text(str(os.getpid()))
            mine = claim
            break
    if mine is None:
        raise AssertionError("every e2e slot block is taken")
    try:
        yield int(mine.name)
    finally:
        mine.unlink(missing_ok=True)


def _block(base: int) -> range:
    return range(base, base + SLOT_BLOCKS.step)


def reserve_slots_below(database: Path, team_id: str, slot: int) -> None:
    """Fill slots 1..slot-1 with deleted placeholder pods, so new pods get `slot` and up."""
    now = datetime.now(UTC)
    rows: list[dict[str, Any]] = [
        {
            "id": f"pod_slot{n}", "team_id": team_id, "name": f"reserved-slot-{n}",
            "preset": "static", "plan_slug": "launch", "status": "deleting",
            "region": "local", "server_id": "srv_placeholder", "slot": n, "cpu": 1,
            "memory_mb": 512, "disk_gb": 10, "app_port": 80, "cron_jobs": [], "workers": [],
            "deleted_at": now, "created_at": now, "updated_at": now,
        }
        for n in range(1, slot)
    ]  # fmt: skip
    engine = create_engine(f"sqlite:///{database}", connect_args={"timeout": 30})
    try:
        with engine.begin() as connection:
            connection.execute(insert(Pod), rows)
    finally:
        engine.dispose()


# -- the server -------------------------------------------------------------------------------


@dataclass
class Platform:
    """One installation: data dir, pods dir, port, and the server process while it runs."""

    data_dir: Path
    pods_dir: Path
    port: int
    logs_dir: Path
    env_extra: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    token: str | None = None
    starts: int = 0
    first_slot: int = 1  # where this installation's pods' slots start (see the module doc)

    # -- process --------------------------------------------------------------------------

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("INSTAPODS_")}
        env.update(
            PYTHONUNBUFFERED="1",
            INSTAPODS_DATA_DIR=str(self.data_dir),
            INSTAPODS_PORT=str(self.port),
            INSTAPODS_PODS_DIR=str(self.pods_dir),
            INSTAPODS_SERVER_NAME="e2e",
            **self.env_extra,
        )
        return env

    def start(self) -> None:
        """Start `instapods server` and wait until the API answers through the edge."""
        assert not self.running(), "the server already runs"
        self.starts += 1
        out = self.logs_dir / f"server-{self.starts}.out"
        err = self.logs_dir / f"server-{self.starts}.err"
        with out.open("wb") as stdout, err.open("wb") as stderr:
            self.process = subprocess.Popen(
                [str(INSTAPODS), "server"], stdout=stdout, stderr=stderr, env=self.env()
            )
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self.process.poll() is not None:
                raise AssertionError(
                    f"the server exited with {self.process.returncode}\n{self.output()}"
                )
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{self.url}/api/health", timeout=2, trust_env=False).is_success:
                    return
            if time.monotonic() > deadline:
                raise AssertionError(f"the server did not answer in time\n{self.output()}")
            time.sleep(0.05)

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill9(self) -> None:
        """SIGKILL the server process (by its PID), as a crash would end it."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=STOP_TIMEOUT)

    def stop(self) -> int:
        """SIGTERM, then SIGKILL if it does not exit in time; returns the exit code."""
        assert self.process is not None
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                return self.process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=STOP_TIMEOUT)
                raise AssertionError(f"the server ignored SIGTERM\n{self.output()}") from None
        return self.process.returncode

    def output(self) -> str:
        parts = []
        for path in sorted(self.logs_dir.glob("server-*")):
            parts.append(f"--- {path.name}\n{path.read_text(errors='replace')[-6000:]}")
        return "\n".join(parts)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def edge_paths(self) -> EdgePaths:
        return EdgePaths.in_data_dir(self.data_dir)

    def caddy_pids(self) -> list[int]:
        """Every live Caddy started with this data dir's configuration file."""
        config = self.edge_paths.config_file
        pids = [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()]
        return [pid for pid in pids if runs_config(pid, config)]

    # -- the API, through the edge --------------------------------------------------------

    def api(self, method: str, path: str, timeout: float = 30.0, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        return _request(method, f"{self.url}{path}", headers=headers, timeout=timeout, **kwargs)

    def sign_up(self) -> dict[str, Any]:
        response = self.api("POST", "/api/auth/register",
                            json={"email": EMAIL, "password": PASSWORD})  # fmt: skip
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        self.token = body["token"]
        return body

    def reserve_slots(self, slot: int) -> None:
        """Make this installation's next pods take slots from `slot` up (see the module doc)."""
        user = self.api("GET", "/api/auth/user").json()
        reserve_slots_below(self.data_dir / "instapods.db", user["current_team_id"], slot)
        self.first_slot = slot

    def create_pod(self, name: str, preset: str) -> dict[str, Any]:
        response = self.api("POST", "/api/pods", json={"name": name, "preset": preset})
        assert response.status_code == 202, response.text
        pod: dict[str, Any] = response.json()
        assert pod["status"] == "creating"
        return pod

    def pod(self, name: str) -> dict[str, Any]:
        response = self.api("GET", f"/api/pods/{name}")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def wait_status(self, name: str, wanted: set[str], timeout: float = 60.0) -> dict[str, Any]:
        return eventually(lambda: self.pod(name), lambda pod: pod["status"] in wanted, timeout,
                          f"pod {name} in {sorted(wanted)}")  # fmt: skip

    def running_pod(self, name: str, preset: str) -> dict[str, Any]:
        self.create_pod(name, preset)
        pod = self.wait_status(name, {"running", "error"})
        assert pod["status"] == "running", pod
        return pod

    def exec(self, name: str, command: str, timeout: float = 60.0) -> dict[str, Any]:
        response = self.api("POST", f"/api/pods/{name}/exec", timeout=timeout + 30,
                            json={"command": command, "timeout_seconds": timeout})  # fmt: skip
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        assert result["exit_code"] == 0, result
        return result

    def write_files(self, name: str, files: dict[str, str]) -> None:
        """Write app files in the pod (paths relative to the app root) with `exec`: the files
        API (PUT /api/pods/{name}/files/content) is not there yet."""
        script = []
        for path, content in files.items():
            marker = f"EOF_{uuid.uuid4().hex}"
            script.append(f"mkdir -p \"$(dirname '{path}')\"")
            script.append(f"cat > '{path}' <<'{marker}'\n{content}\n{marker}")
        self.exec(name, "set -e\n" + "\n".join(script))

    def reload(self, name: str) -> httpx.Response:
        return self.api("POST", f"/api/pods/{name}/reload", timeout=600)

    def delete_pod(self, name: str) -> None:
        response = self.api("DELETE", f"/api/pods/{name}")
        assert response.status_code == 200, response.text

    # -- pods, through the edge -----------------------------------------------------------

    def host(self, pod: str) -> str:
        return f"{pod}.localhost:{self.port}"

    def visit(self, pod: str, path: str = "/") -> httpx.Response:
        """GET a pod's page through the edge (only browsers map *.localhost to loopback)."""
        return _request("GET", f"{self.url}{path}", headers={"Host": self.host(pod)}, timeout=15)

    def wait_page(self, pod: str, text: str, path: str = "/", timeout: float = 30.0) -> str:
        """The pod's page once it answers 200 with `text` in it."""

        def probe() -> tuple[int, str]:
            try:
                response = self.visit(pod, path)
            except httpx.TransportError as exc:
                return 0, repr(exc)
            return response.status_code, response.text

        _, body = eventually(probe, lambda r: r[0] == 200 and text in r[1], timeout,
                             f"{pod}{path} answering {text!r}")  # fmt: skip
        return body

    # -- the host ---------------------------------------------------------------------------

    def host_pod(self, pod_id: str) -> HostPod:
        root = self.pods_dir / pod_id
        slot = int((root / "slot").read_text())
        cgroups = list(json.loads((root / "cgroup.json").read_text())["paths"].values())
        return HostPod(pod_id, root, slot, cgroups)

    def pod_dirs(self) -> list[str]:
        return sorted(p.name for p in self.pods_dir.iterdir()) if self.pods_dir.exists() else []


def _request(method: str, url: str, **kwargs: Any) -> httpx.Response:
    """One request; sent again when Caddy dropped the connection unanswered.

    Caddy applies every route change (a pod started, stopped, deleted) as a graceful reload,
    and the server it replaces may close a connection it had accepted without reading it
    (docs/architecture.md, "The edge"). Such a request never reached anyone, so it is sent
    again; a GET is also sent again when the answer was cut off.
    """
    retryable: tuple[type[Exception], ...] = (httpx.ConnectError,)
    if method == "GET":
        retryable = (httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError)
    for attempt in range(3):
        try:
            return httpx.request(method, url, trust_env=False, **kwargs)
        except retryable:
            if attempt == 2:
                raise
            time.sleep(0.1)
    raise AssertionError("unreachable")


# -- what a pod holds on the host -------------------------------------------------------------


@dataclass(frozen=True)
class HostPod:
    id: str
    root: Path
    slot: int
    cgroups: list[str]

    @property
    def uid(self) -> int:
        return UID_BASE + self.slot

    @property
    def net(self) -> PodNetwork:
        return PodNetwork.for_slot(POD_NETWORK, self.slot)

    def processes(self) -> dict[int, str]:
        """PID -> command line of every process on the host running as the pod's uid."""
        return processes_of_uid(self.uid)

    def network_traces(self) -> list[str]:
        found = []
        if self.net.netns in netns_names():
            found.append(f"netns {self.net.netns}")
        if Path("/sys/class/net", self.net.veth).exists():
            found.append(f"veth {self.net.veth}")
        return found

    def traces(self) -> list[str]:
        """Everything of the pod still on the host (empty once it is deleted)."""
        found = [f"process {pid} {cmd}" for pid, cmd in self.processes().items()]
        found += self.network_traces()
        found += [f"mount {m}" for m in mounts_under(self.root)]
        found += [f"mount {m}" for m in mounts_under(Path(self.net.netns_path))]
        found += [f"loop device for {image}" for image in loop_images_under(self.root)]
        found += [f"cgroup {path}" for path in self.cgroups if Path(path).exists()]
        if self.root.exists():
            found.append(f"directory {self.root}")
        found += [f"firewall rule {rule}" for rule in firewall_rules_naming(self)]
        return found


def processes_of_uid(uid: int) -> dict[int, str]:
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        state = next((x for x in status.splitlines() if x.startswith("State:")), "")
        uids = next((x for x in status.splitlines() if x.startswith("Uid:")), "Uid:\t-1")
        if int(uids.split()[1]) == uid and "(zombie)" not in state:
            found[int(entry.name)] = cmdline.replace(b"\0", b" ").decode(errors="replace")[:120]
    return found


def netns_names() -> set[str]:
    listing = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True)
    return {line.split(" ")[0] for line in listing.stdout.splitlines() if line.strip()}


def mounts_under(path: Path) -> list[str]:
    found = []
    for line in Path("/proc/self/mounts").read_text().splitlines():
        target = line.split(" ")[1]
        if target == str(path) or target.startswith(f"{path}/"):
            found.append(target)
    return found


def loop_images_under(path: Path) -> list[str]:
    listing = subprocess.run(
        ["losetup", "--list", "--noheadings", "--output", "BACK-FILE"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    # (The list shows images that were deleted too, as "PATH (deleted)".)
    return [line.strip() for line in listing.stdout.splitlines()
            if line.strip().startswith(f"{path}/")]  # fmt: skip


def firewall_rules_naming(pod: HostPod) -> list[str]:
    """Rules that name this pod's veth or address: there should never be any (the INSTAPODS
    chains are shared by every pod through the `vp+` match)."""
    words = (f" {pod.net.veth} ", f" {pod.net.pod_ip}/", f" {pod.net.host_ip}/")
    found = []
    for table in ("filter", "nat"):
        listing = subprocess.run(["iptables", "-w", "-t", table, "-S"], capture_output=True,
                                 text=True, check=True)  # fmt: skip
        found += [rule for rule in listing.stdout.splitlines()
                  if any(word in f"{rule} " for word in words)]  # fmt: skip
    return found


def processes_naming(path: Path) -> list[int]:
    """Live processes with `path` on their command line (a mkfs or mount a dead server left)."""
    found = []
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError):
            if entry.name.isdigit() and os.fsencode(path) in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
    return [pid for pid in found if pid_alive(pid)]


def destroy_on_host(root: Path, pod_ids: list[str]) -> None:
    """Remove pods with the sandbox driver itself, behind the control plane's back."""

    async def destroy() -> None:
        driver = SandboxDriver(root)
        for pod_id in pod_ids:
            try:
                await driver.destroy(pod_id)
            except Exception:
                log.exception("could not destroy pod %s", pod_id)
        await driver.close()

    asyncio.run(destroy())
