"""Pod start-up and per-pod memory on a real `instapods server`, against bare host processes.

Starts `instapods server` (its own data and pods directories under /tmp/instapods-bench, a free
port), registers a user through the API and prints, in one run:

- create-to-200: `POST /api/pods` until the pod's starter page answers 200 through the edge
  (Host: NAME.localhost:PORT to 127.0.0.1:PORT), for a static and a python pod (a fresh pod
  per run, deleted and gone from the host before the next);
- the floor: the same servers started as bare host processes (nginx with the static pod's own
  config, the python starter app, `python3 -m http.server`), spawn until their first 200;
- start of a stopped pod: `POST /stop`, then `POST /start` until the first 200 through the edge
  (and the `POST /start` call alone);
- runtime overhead per idle pod: PSS of the pod's bwrap processes (two per service, found by
  the pod's host uid), with the app's PSS and the pod's memory cgroup for reference;
- control-plane RSS (the server process; Caddy apart) before and with IDLE_PODS idle static pods.

Times are medians of RUNS runs (min-max in brackets); the client polls every 2 ms. As root:
    .venv/bin/python bench/pod_start.py [RUNS [IDLE_PODS]]      (defaults: 10 and 100)
Every pod is deleted through the API at the end and the server stopped; whatever a failure
leaves (server, Caddy, pods on the host) is removed by PID and by the pods directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import os
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from instapods.catalog.presets import BY_SLUG
from instapods.pods.presets import APP, nginx_conf, starter_files
from instapods.runtime.drivers.sandbox import network
from instapods.runtime.drivers.sandbox.driver import SandboxDriver

INSTAPODS = Path(sys.executable).parent / "instapods"
BASE = Path("/tmp/instapods-bench")  # noqa: S108 (pod users must reach it; pytest's tmp is private)
POD_UID_BASE = 200_000  # the default INSTAPODS_POD_UID_BASE: a pod's host uid is this + its slot
POLL = 0.002
ANSWER_TIMEOUT = 60.0
START_TIMEOUT = 30.0
STOP_TIMEOUT = 20.0
PASSWORD = "benchmark-password"  # noqa: S105 (a throwaway account)
MIB = 1024 * 1024

# The targets.
TARGET_CREATE_RATIO = 3.0  # create-to-200 of a static pod against the bare process start
TARGET_START_MS = 150.0
TARGET_OVERHEAD_MB = 2.0
TARGET_CONTROL_MB = 200.0


# -- measuring ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Timing:
    samples: tuple[float, ...]  # seconds

    @property
    def ms(self) -> float:
        return statistics.median(self.samples) * 1000

    def __str__(self) -> str:
        low, high = min(self.samples) * 1000, max(self.samples) * 1000
        return f"{self.ms:6.1f} ms ({low:.0f}-{high:.0f})"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def status_of(port: int, host: str | None = None) -> int | None:
    """One GET / on a fresh connection; None when nothing answers yet."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1.0)
    try:
        connection.request("GET", "/", headers={"Host": host} if host else {})
        response = connection.getresponse()
        response.read()
        return response.status
    except OSError:
        return None
    finally:
        connection.close()


def wait_200(
    port: int,
    host: str | None = None,
    alive: Callable[[], bool] | None = None,
    strict: bool = False,
) -> float:
    """Poll every POLL seconds until GET / answers 200; the perf_counter time of that answer.
    `strict`: any other answer is an error (a bare server has no 404 or 503 phase)."""
    deadline = time.monotonic() + ANSWER_TIMEOUT
    while time.monotonic() < deadline:
        status = status_of(port, host)
        if status == 200:
            return time.perf_counter()
        if strict and status is not None:
            raise RuntimeError(f"127.0.0.1:{port} answered {status}")
        if alive is not None and not alive():
            raise RuntimeError(f"the server on port {port} exited before answering")
        time.sleep(POLL)
    raise RuntimeError(f"no 200 from {host or '127.0.0.1'} on port {port} in {ANSWER_TIMEOUT}s")


def kb_field(path: str, name: str) -> int:
    """A `Name:   123 kB` line of a /proc file, in kB (0 when the process is gone)."""
    try:
        with open(path) as handle:
            for line in handle:
                if line.startswith(name + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def rss_mb(pid: int) -> float:
    return kb_field(f"/proc/{pid}/status", "VmRSS") / 1024


def pss_mb(pid: int) -> float:
    return kb_field(f"/proc/{pid}/smaps_rollup", "Pss") / 1024


def processes_of_uid(uid: int) -> list[tuple[int, str]]:
    """(pid, comm) of every live process whose real uid is `uid` (zombies left out: this
    machine's PID 1 reaps orphans late, and a zombie holds no memory)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status") as handle:
                fields = dict(line.split(":", 1) for line in handle if ":" in line)
        except OSError:
            continue
        if int(fields["Uid"].split()[0]) == uid and not fields["State"].strip().startswith("Z"):
            found.append((int(entry), fields["Name"].strip()))
    return found


def machine() -> str:
    kernel = os.uname().release
    cgroups = "cgroup v2" if Path("/sys/fs/cgroup/cgroup.controllers").exists() else "cgroup v1"
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return f"{os.cpu_count()} CPUs, kernel {kernel}, {cgroups}, load average {load}"


def other_servers(own: int | None = None) -> list[int]:
    """PIDs of `instapods server` processes other than ours (they would share the CPUs)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == own:
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                argv = handle.read().split(b"\0")
        except OSError:
            continue
        if any(a.endswith(b"/instapods") for a in argv[:2]) and b"server" in argv:
            found.append(int(entry))
    return found


# -- the bare processes (the floor) --------------------------------------------------------


def spawn_to_200(argv: list[str], port: int, cwd: Path, env: dict[str, str]) -> float:
    """Seconds from spawning `argv` to its first 200 on `port`; the process is then stopped."""
    started = time.perf_counter()
    process = subprocess.Popen(
        argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        answered = wait_200(port, alive=lambda: process.poll() is None, strict=True)
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return answered - started


def floors(root: Path, runs: int) -> dict[str, Timing]:
    """Spawn-to-200 of the pods' servers as plain host processes (the same programs, config
    and starter files; no sandbox, no edge)."""
    site = root / "static"
    site.mkdir()
    os.chmod(site, 0o755)  # noqa: S103 (nginx's workers run as nobody)
    page = starter_files(BY_SLUG["static"], "floor")[f"{APP}/index.html"]
    (site / "index.html").write_bytes(page)
    app = root / "python"
    app.mkdir()
    (app / "app.py").write_bytes(starter_files(BY_SLUG["python"], "floor")[f"{APP}/app.py"])
    env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
    nginx, python, http_server = [], [], []
    for run in range(runs):
        port = free_port()
        conf = nginx_conf("/webroot", php=False)
        conf = conf.replace("listen 80 default_server", f"listen 127.0.0.1:{port}")
        conf = conf.replace("/tmp/", f"{root}/nginx-{run}-")  # noqa: S108 (the pod's /tmp)
        conf = conf.replace("/webroot", str(site))
        conf_path = root / f"nginx-{run}.conf"
        conf_path.write_text(conf)
        argv = ["/usr/sbin/nginx", "-e", "stderr", "-c", str(conf_path), "-g", "daemon off;"]
        nginx.append(spawn_to_200(argv, port, root, env))
        port = free_port()
        argv = ["/usr/bin/python3", "app.py"]
        python.append(spawn_to_200(argv, port, app, {**env, "PORT": str(port)}))
        port = free_port()
        argv = ["/usr/bin/python3", "-m", "http.server", str(port), "--bind", "127.0.0.1"]
        http_server.append(spawn_to_200(argv, port, site, env))
    return {
        "nginx": Timing(tuple(nginx)),
        "python": Timing(tuple(python)),
        "http.server": Timing(tuple(http_server)),
    }


# -- the server -----------------------------------------------------------------------------


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    port: int
    data_dir: Path
    pods_dir: Path
    log: Path
    api: httpx.Client = field(init=False)
    dropped: list[str] = field(default_factory=list)  # requests the edge closed unanswered

    def alive(self) -> bool:
        return self.process.poll() is None

    def host(self, pod: str) -> str:
        return f"{pod}.localhost:{self.port}"

    def caddy_pid(self) -> int | None:
        try:
            pid = int((self.data_dir / "run" / "caddy.pid").read_text())
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                cmdline = handle.read()
        except (OSError, ValueError):
            return None
        config = str((self.data_dir / "run" / "caddy.json").resolve()).encode()
        return pid if config in cmdline else None  # only our own Caddy

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]


def server_env(pods_dir: Path, idle: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INSTAPODS_")}
    env.update(
        PYTHONUNBUFFERED="1",
        INSTAPODS_PODS_DIR=str(pods_dir),
        INSTAPODS_RATE_LIMITS=json.dumps({"register": "100/minute", "pod_create": "100000/hour"}),
        INSTAPODS_MAX_PODS=str(idle + 20),
        # The capacity check (512 MB per Launch pod against host memory x 1.5) stops at about
        # 70 pods on 24 GB; idle pods use a few MB each, so only the pod count limits here.
        INSTAPODS_MEMORY_OVERCOMMIT="1000",
    )
    return env


@contextlib.contextmanager
def running_server(root: Path, idle: int) -> Iterator[Server]:
    """`instapods server` on a free port; always stopped (and its Caddy too) at the end."""
    data_dir, pods_dir, log = root / "data", root / "pods", root / "server.log"
    port = free_port()
    argv = [str(INSTAPODS), "server", "--data-dir", str(data_dir), "--port", str(port)]
    with log.open("wb") as out:
        process = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, env=server_env(pods_dir, idle)
        )
    server = Server(process, port, data_dir, pods_dir, log)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while status_of(port, f"127.0.0.1:{port}") is None or not server.caddy_pid():
            if not server.alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start\n{server.output()}")
            time.sleep(0.05)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120) as api:
            server.api = api
            yield server
    except BaseException:
        print(f"the server's log ends with:\n{server.output()}", file=sys.stderr)
        raise
    finally:
        caddy = server.caddy_pid()
        if server.alive():
            os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()
        if caddy is not None and server.caddy_pid() == caddy:  # left behind by a killed server
            os.kill(caddy, signal.SIGKILL)


def clean_up(root: Path) -> None:
    """Remove what a failed run may have left on the host: pods (processes, cgroups, network
    namespaces, mounts), then the pod firewall if no one else needs it, then the files."""
    pods_dir = root / "pods"
    if pods_dir.exists():

        async def destroy_all() -> None:
            driver = SandboxDriver(pods_dir)
            for entry in pods_dir.iterdir():
                if entry.is_dir():
                    await driver.destroy(entry.name)
            await driver.close()

        asyncio.run(destroy_all())
    # The firewall is every pod's: it stays while any pod, or any other server (whose next pods
    # need it), is left on the host.
    pods_left = any(n.startswith("vp") and n[2:].isdigit() for n in os.listdir("/sys/class/net"))
    if not pods_left and not other_servers():
        asyncio.run(network.remove_firewall())
    shutil.rmtree(root, ignore_errors=True)
    with contextlib.suppress(OSError):
        BASE.rmdir()  # when no other run uses it


def check_host(idle: int) -> None:
    if os.geteuid() != 0:
        sys.exit("run as root: pods need namespaces, cgroups and loop mounts")
    slots = network.netns_slots()
    if any(slot <= idle + 20 for slot in slots):
        # Pods take slots 1, 2, … and their network namespaces are named after the slot
        # (ipod-N): another installation's pods in those slots would lose their network.
        sys.exit(f"pods of another installation use slots {slots[:10]}…; stop it first")


# -- the measurements -------------------------------------------------------------------------


def call(server: Server, method: str, path: str, **options: Any) -> httpx.Response:
    """An API request through the edge. Caddy applies every route change (a pod started,
    stopped, deleted) as a graceful reload of its whole configuration, which closes kept-alive
    connections; a request sent on one at that instant gets no answer (or a reset). Such
    requests are counted and sent again (`create` and `delete_and_wait` notice when the first
    one got through after all)."""
    for _ in range(5):
        try:
            return server.api.request(method, path, **options)
        except (httpx.RemoteProtocolError, httpx.ReadError) as exc:  # closed, or reset
            server.dropped.append(f"{method} {path}: {type(exc).__name__}")
    raise RuntimeError(f"{method} {path}: the edge kept closing the connection")


def register(server: Server) -> None:
    body = {"email": "bench@example.com", "password": PASSWORD}
    response = call(server, "POST", "/api/auth/register", json=body)
    response.raise_for_status()
    server.api.headers["Authorization"] = f"Bearer {response.json()['token']}"


def create(server: Server, name: str, preset: str) -> tuple[dict[str, Any], float]:
    """POST /api/pods; the pod and the time the call took."""
    started, dropped = time.perf_counter(), len(server.dropped)
    response = call(server, "POST", "/api/pods", json={"name": name, "preset": preset})
    took = time.perf_counter() - started
    if response.status_code == 409 and len(server.dropped) > dropped:  # the first try made it
        response = call(server, "GET", f"/api/pods/{name}")
        response.raise_for_status()
    elif response.status_code != 202:
        raise RuntimeError(f"creating {name}: {response.status_code} {response.text}")
    pod: dict[str, Any] = response.json()
    return pod, took


def delete_and_wait(server: Server, pods: list[dict[str, Any]]) -> None:
    """DELETE the pods, then wait until their destroy jobs removed them from the host."""
    for pod in pods:
        dropped = len(server.dropped)
        response = call(server, "DELETE", f"/api/pods/{pod['name']}")
        first_try_made_it = response.status_code == 404 and len(server.dropped) > dropped
        if response.status_code != 200 and not first_try_made_it:
            raise RuntimeError(f"deleting {pod['name']}: {response.status_code} {response.text}")
    deadline = time.monotonic() + 120
    while any((server.pods_dir / pod["id"]).exists() for pod in pods):
        if time.monotonic() > deadline:
            raise RuntimeError("deleted pods are still on the host after 120s")
        time.sleep(0.02)


def create_to_200(server: Server, preset: str, runs: int) -> tuple[Timing, Timing]:
    """Create-to-200 and POST /api/pods alone, a fresh pod per run."""
    total, api = [], []
    for run in range(runs):
        name = f"{preset}-c{run}"
        started = time.perf_counter()
        pod, took = create(server, name, preset)
        answered = wait_200(server.port, server.host(name), server.alive)
        total.append(answered - started)
        api.append(took)
        delete_and_wait(server, [pod])
    return Timing(tuple(total)), Timing(tuple(api))


def stop_start(server: Server, name: str, runs: int) -> tuple[Timing, Timing]:
    """POST /start-to-200 of a stopped pod, and POST /start alone."""
    total, api = [], []
    for _ in range(runs):
        response = call(server, "POST", f"/api/pods/{name}/stop")
        if response.status_code != 200 or status_of(server.port, server.host(name)) == 200:
            raise RuntimeError(f"stopping {name}: {response.status_code} {response.text}")
        started = time.perf_counter()
        response = call(server, "POST", f"/api/pods/{name}/start")
        took = time.perf_counter() - started
        if response.status_code != 200:
            raise RuntimeError(f"starting {name}: {response.status_code} {response.text}")
        answered = wait_200(server.port, server.host(name), server.alive)
        total.append(answered - started)
        api.append(took)
    return Timing(tuple(total)), Timing(tuple(api))


def all_pods(server: Server) -> list[dict[str, Any]]:
    pods: list[dict[str, Any]] = []
    while True:
        response = call(server, "GET", "/api/pods", params={"limit": 100, "offset": len(pods)})
        response.raise_for_status()
        page = response.json()
        pods += page["pods"]
        if not page["pods"] or len(pods) >= page["total"]:
            return pods


def wait_running(server: Server, count: int) -> None:
    deadline = time.monotonic() + 600
    while True:
        response = call(server, "GET", "/api/pods", params={"limit": 1})
        response.raise_for_status()
        counts: dict[str, int] = response.json()["status_counts"]
        if counts.get("running", 0) >= count:
            return
        if counts.get("error") or time.monotonic() > deadline:
            raise RuntimeError(f"pods did not all start: {counts}\n{server.output()}")
        time.sleep(0.2)


@dataclass
class PodMemory:
    bwrap_pss: float  # MB, the pod's bwrap processes together
    bwrap_rss: float
    bwrap_count: float
    app_pss: float  # MB, the pod's other processes (nginx, python)
    app_rss: float
    cgroup: float  # MB, the memory cgroup's usage (v1 counts the page cache of the pod's files)


def pod_memory(server: Server, pod_id: str) -> PodMemory:
    root = server.pods_dir / pod_id
    uid = POD_UID_BASE + int((root / "slot").read_text())
    processes = processes_of_uid(uid)
    bwraps = [pid for pid, name in processes if name == "bwrap"]
    others = [pid for pid, name in processes if name != "bwrap"]
    cgroup = json.loads((root / "cgroup.json").read_text())
    if cgroup["version"] == 2:
        usage = Path(cgroup["paths"]["unified"]) / "memory.current"
    else:
        usage = Path(cgroup["paths"]["memory"]) / "memory.usage_in_bytes"
    return PodMemory(
        bwrap_pss=sum(pss_mb(pid) for pid in bwraps),
        bwrap_rss=sum(rss_mb(pid) for pid in bwraps),
        bwrap_count=len(bwraps),
        app_pss=sum(pss_mb(pid) for pid in others),
        app_rss=sum(rss_mb(pid) for pid in others),
        cgroup=int(usage.read_text()) / MIB,
    )


def average(memories: list[PodMemory]) -> PodMemory:
    return PodMemory(
        bwrap_pss=statistics.fmean(m.bwrap_pss for m in memories),
        bwrap_rss=statistics.fmean(m.bwrap_rss for m in memories),
        bwrap_count=statistics.fmean(m.bwrap_count for m in memories),
        app_pss=statistics.fmean(m.app_pss for m in memories),
        app_rss=statistics.fmean(m.app_rss for m in memories),
        cgroup=statistics.fmean(m.cgroup for m in memories),
    )


@dataclass
class ControlPlane:
    server: float  # MB RSS
    caddy: float


def control_plane(server: Server) -> ControlPlane:
    caddy = server.caddy_pid()
    return ControlPlane(rss_mb(server.process.pid), rss_mb(caddy) if caddy else 0.0)


@dataclass
class Results:
    runs: int
    idle: int
    machine: str = ""
    neighbours: set[int] = field(default_factory=set)  # other `instapods server` PIDs seen
    load_after: str = ""
    dropped: list[str] = field(default_factory=list)
    floors: dict[str, Timing] = field(default_factory=dict)
    create: dict[str, tuple[Timing, Timing]] = field(default_factory=dict)
    start: dict[str, tuple[Timing, Timing]] = field(default_factory=dict)
    memory: dict[str, PodMemory] = field(default_factory=dict)
    control: dict[str, ControlPlane] = field(default_factory=dict)
    provision_seconds: float = 0.0


def measure(server: Server, root: Path, runs: int, idle: int) -> Results:
    results = Results(runs, idle, machine())
    done = threading.Event()

    def watch_neighbours() -> None:
        while not done.wait(0.5):
            results.neighbours.update(other_servers(server.process.pid))

    watcher = threading.Thread(target=watch_neighbours, daemon=True)
    watcher.start()
    try:
        _measure(server, root, results)
    finally:
        done.set()
        watcher.join()
    results.load_after = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    results.dropped = server.dropped
    return results


def _measure(server: Server, root: Path, results: Results) -> None:
    runs, idle = results.runs, results.idle
    register(server)
    results.control["fresh"] = control_plane(server)
    results.floors = floors(root / "floor", runs)
    for preset in ("static", "python"):
        results.create[preset] = create_to_200(server, preset, runs)
    kept = []
    for preset in ("static", "python"):
        name = f"{preset}-s"
        pod, _ = create(server, name, preset)
        wait_200(server.port, server.host(name), server.alive)
        results.start[preset] = stop_start(server, name, runs)
        kept.append(pod)
    time.sleep(1)  # let the python pod's last start settle
    results.memory["python pod (one)"] = pod_memory(server, kept[1]["id"])
    results.control["before"] = control_plane(server)
    started = time.perf_counter()
    for index in range(idle):
        create(server, f"idle-{index}", "static")
    wait_running(server, idle + len(kept))
    results.provision_seconds = time.perf_counter() - started
    time.sleep(2)  # let the last ones settle
    pods = all_pods(server)
    idle_ids = [pod["id"] for pod in pods if pod["name"].startswith("idle-")]
    label = f"static pod (mean of {len(idle_ids)})"
    results.memory[label] = average([pod_memory(server, pod_id) for pod_id in idle_ids])
    results.control["with"] = control_plane(server)
    delete_and_wait(server, pods)


# -- the report -----------------------------------------------------------------------------


def row(label: str, value: object, note: str = "") -> None:
    print(f"  {label:<46}{value}  {note}".rstrip())


def verdict(label: str, value: str, ok: bool) -> None:
    row(label, value, "PASS" if ok else "MISS")


def report_times(results: Results) -> None:
    fl = results.floors
    nginx, app, http_server = fl["nginx"].ms, fl["python"].ms, fl["http.server"].ms
    print(f"{'floor: bare host process, spawn to first 200':<48}median (min-max)")
    row("nginx, the static pod's config", fl["nginx"])
    row("python3 app.py, the python pod's starter", fl["python"])
    row("python3 -m http.server", fl["http.server"])
    print("\ncreate-to-200 through the edge: POST /api/pods until the first 200")
    (static, static_api), (python, python_api) = results.create["static"], results.create["python"]
    row("static pod", static, f"{static.ms / nginx:.1f}x nginx, {static.ms / http_server:.1f}x "
        "http.server")  # fmt: skip
    row("  POST /api/pods alone (202)", static_api)
    row("python pod", python, f"{python.ms / app:.1f}x python3 app.py")
    row("  POST /api/pods alone (202)", python_api)
    print("\nstart of a stopped pod: POST /start until the first 200 through the edge")
    for preset, (total, api) in results.start.items():
        floor = nginx if preset == "static" else app
        row(f"{preset} pod", total, f"{total.ms / floor:.1f}x its floor")
        row("  POST /start alone", api)


def report_memory(results: Results) -> None:
    print(f"{'memory per idle pod, MB: PSS (RSS)':<36}{'bwrap processes':<23}{'app':<17}cgroup")
    for label, mem in results.memory.items():
        bwrap = f"{mem.bwrap_count:.0f} x {mem.bwrap_pss:4.2f} ({mem.bwrap_rss:3.1f})"
        print(f"  {label:<34}{bwrap:<23}{mem.app_pss:5.2f} ({mem.app_rss:4.1f})  {mem.cgroup:6.1f}")
    print()
    print(f"{'control plane RSS, MB':<50}server   caddy")
    labels = {
        "fresh": "fresh, no pod",
        "before": "after the timed runs, 2 pods",
        "with": f"with {results.idle} more idle static pods",
    }
    for key, label in labels.items():
        cp = results.control[key]
        row(label, f"{cp.server:6.1f}  {cp.caddy:6.1f}")
    rate = results.idle / results.provision_seconds
    print(f"  ({results.idle} pods created and running in {results.provision_seconds:.1f} s, "
          f"{rate:.1f} pods/s)")  # fmt: skip


def report_edge(results: Results) -> None:
    dropped = ", ".join(results.dropped[:5]) + (", …" if len(results.dropped) > 5 else "")
    print(f"API requests the edge closed unanswered while reloading its routes (sent again): "
          f"{len(results.dropped)}{f' ({dropped})' if dropped else ''}")  # fmt: skip


def report_targets(results: Results) -> None:
    static = results.create["static"][0].ms
    start = max(total.ms for total, _ in results.start.values())
    overhead = max(mem.bwrap_pss for mem in results.memory.values())
    control = results.control["with"].server
    print("targets")
    for floor in ("nginx", "http.server"):
        limit = TARGET_CREATE_RATIO * results.floors[floor].ms
        verdict(f"static create-to-200 <= 3x {floor} ({limit:.0f} ms)", f"{static:6.0f} ms",
                static <= limit)  # fmt: skip
    verdict(f"start of a stopped pod < {TARGET_START_MS:.0f} ms (slower)", f"{start:6.0f} ms",
            start < TARGET_START_MS)  # fmt: skip
    verdict(f"overhead per idle pod < {TARGET_OVERHEAD_MB:.0f} MB (bwrap PSS)",
            f"{overhead:6.2f} MB", overhead < TARGET_OVERHEAD_MB)  # fmt: skip
    verdict(f"control plane, {results.idle} pods < {TARGET_CONTROL_MB:.0f} MB (RSS)",
            f"{control:6.0f} MB", control < TARGET_CONTROL_MB)  # fmt: skip


def print_machine(machine: str, load_after: str, neighbours: set[int]) -> None:
    """The lines under a benchmark's title: the machine, its load, and other servers."""
    print(f"machine: {machine}; at the end {load_after}")
    if neighbours:
        print(f"WARNING: {len(neighbours)} other `instapods server` processes shared "
              "the CPUs during the run; the times are pessimistic")  # fmt: skip


def print_dropped(dropped: list[str]) -> None:
    shown = ", ".join(dropped[:5]) + (", …" if len(dropped) > 5 else "")
    print(f"\nAPI requests the edge closed unanswered (sent again): {len(dropped)}"
          f"{f' ({shown})' if shown else ''}")  # fmt: skip


def report(results: Results) -> None:
    print(f"pod start-up and memory: {results.runs} runs each, GET / polled every "
          f"{POLL * 1000:.0f} ms")  # fmt: skip
    print_machine(results.machine, results.load_after, results.neighbours)
    for part in (report_times, report_memory, report_edge, report_targets):
        print()
        part(results)


def main(argv: list[str]) -> None:
    runs = int(argv[1]) if len(argv) > 1 else 10
    idle = int(argv[2]) if len(argv) > 2 else 100
    check_host(idle)
    BASE.mkdir(mode=0o711, exist_ok=True)
    os.chmod(BASE, 0o711)  # noqa: S103 (pod users must reach their pods)
    root = BASE / secrets.token_hex(6)
    root.mkdir()
    os.chmod(root, 0o711)  # noqa: S103
    (root / "floor").mkdir()
    try:
        with running_server(root, idle) as server:
            results = measure(server, root, runs, idle)
    finally:
        clean_up(root)
    report(results)


if __name__ == "__main__":
    main(sys.argv)
