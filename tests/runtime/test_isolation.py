"""Attacks from inside a pod, one per test. A tenant runs arbitrary code in its pod (here
through `exec`); it must not read or touch another pod, the host or the control plane, nor
take more of the host than its plan (shared/DESIGN.md, "Data and security"). Each test shows
first that the target exists and is reachable from outside, so a pass means "blocked", not
"absent".
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import json
import os
import shutil
import socket
import sqlite3
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from instapods.kit import procs
from instapods.runtime.base import Capability, Driver, ExecResult, PodSpec, PodState, PodStatus
from tests.fixtures.sandbox import pod_spec, python_server
from tests.runtime.support import Host, eventually, http_status, python_service, run_python

MIB = 1024**2
# Tries to open a TCP connection to each "host:port" argument at once ("gateway" stands for
# the pod's default gateway); prints {target: open | refused | timeout | error: …}.
CONNECT = """
import json, socket, struct, sys
from concurrent.futures import ThreadPoolExecutor

def gateway():
    for line in open("/proc/net/route").read().splitlines()[1:]:
        fields = line.split()
        if fields[1] == "00000000":
            return socket.inet_ntoa(struct.pack("<L", int(fields[2], 16)))

def attempt(target):
    host, port = target.rsplit(":", 1)
    host = gateway() if host == "gateway" else host
    try:
        socket.create_connection((host, int(port)), timeout=2).close()
        return "open"
    except TimeoutError:
        return "timeout"
    except ConnectionRefusedError:
        return "refused"
    except OSError as error:
        return f"error: {error}"

targets = sys.argv[1:]
with ThreadPoolExecutor(len(targets)) as pool:
    print(json.dumps(dict(zip(targets, pool.map(attempt, targets)))))
"""
# Tries to read each path argument; prints {path: "read" | the error's name}.
READ = """
import json, sys
found = {}
for path in sys.argv[1:]:
    try:
        with open(path, "rb") as handle:
            handle.read(1)
        found[path] = "read"
    except OSError as error:
        found[path] = type(error).__name__
print(json.dumps(found))
"""
# Looks for a string in every file the pod can see (but /proc, /sys, /dev and /usr).
SEARCH = """
import os, sys
needle = sys.argv[1].encode()
for top, dirs, files in os.walk("/"):
    if top == "/":
        dirs[:] = [d for d in dirs if d not in ("proc", "sys", "dev", "usr")]
    for name in files:
        path = os.path.join(top, name)
        try:
            with open(path, "rb") as handle:
                if needle in handle.read(1 << 20):
                    print(path)
        except OSError:
            pass
"""
FORK_BOMB = """
import json, os, sys, time
children, error = [], None
while len(children) < 5000:
    try:
        pid = os.fork()
    except OSError as exc:
        error = exc.errno
        break
    if pid == 0:
        time.sleep(60)
        os._exit(0)
    children.append(pid)
print(json.dumps({"forked": len(children), "errno": error}), flush=True)
time.sleep(float(sys.argv[1]))  # hold the pod at its limit while the host looks around
for pid in children:
    os.kill(pid, 9)
for pid in children:
    os.waitpid(pid, 0)
"""
# Whether each mount point argument is mounted read-only, from the pod's mountinfo.
READ_ONLY = """
import json, sys
options = {}
for line in open("/proc/self/mountinfo"):
    fields = line.split()
    options[fields[4]] = fields[5].split(",")
print(json.dumps({path: "ro" in options[path] for path in sys.argv[1:]}))
"""
HOG = "chunks = []\nwhile True:\n    chunks.append(b'x' * (8 << 20))"
WHOAMI = """
import os, runpy, sys
print("uid", os.getuid(), os.getgid())
sys.argv = ["http.server", "8000"]
runpy.run_module("http.server", run_name="__main__")
"""
HTTPS = """
import urllib.request
print(urllib.request.urlopen("https://pypi.org/simple/six/", timeout=20).status)
"""


async def running(driver: Driver, spec: PodSpec) -> PodState:
    await driver.create(spec)
    state = await driver.start(spec)
    assert state.status == PodStatus.RUNNING, state
    return state


async def json_from(driver: Driver, spec: PodSpec, code: str, *args: str) -> dict[str, Any]:
    """What a Python program run in the pod printed, as JSON."""
    result = await run_python(driver, spec, code, *args)
    assert result.exit_code == 0, result
    found: dict[str, Any] = json.loads(result.stdout)
    return found


async def shell(driver: Driver, spec: PodSpec, script: str, timeout: float = 30) -> ExecResult:
    return await driver.exec(spec, ["/bin/sh", "-c", script], timeout=timeout)


@contextmanager
def listening(address: str) -> Iterator[int]:
    """A TCP listener of the test process on `address`; yields its port."""
    with socket.socket() as server:
        server.bind((address, 0))
        server.listen()
        yield server.getsockname()[1]


def reachable_from_here(address: str, port: int) -> bool:
    try:
        socket.create_connection((address, port), timeout=2).close()
    except OSError:
        return False
    return True


async def host_addresses() -> list[str]:
    """The host's own IPv4 addresses, but loopback and the pods' veth ends."""
    listing = await procs.run(["ip", "-4", "-o", "addr", "show"])
    found = []
    for line in listing.stdout.splitlines():
        _, device, _, cidr, *_ = line.split()
        if device != "lo" and not device.startswith("vp"):
            found.append(str(ipaddress.IPv4Interface(cidr).ip))
    return found


def exists(path: str | Path) -> bool:
    return os.path.exists(path)


def read_text(path: str) -> str:
    return Path(path).read_text()


def command(pid: int) -> str:
    return read_text(f"/proc/{pid}/comm").strip()


def status_ids(pid: int) -> tuple[list[int], list[int]]:
    """The real, effective, saved and fs uids and gids of a host process."""
    fields = dict(line.split(":", 1) for line in read_text(f"/proc/{pid}/status").splitlines())
    return [int(v) for v in fields["Uid"].split()], [int(v) for v in fields["Gid"].split()]


def assert_blocked(results: dict[str, Any]) -> None:
    """Every connection attempt was refused or timed out (not failed for another reason, which
    would say nothing about the firewall)."""
    assert results, "no attempt made"
    assert set(results.values()) <= {"refused", "timeout"}, results


# -- files ---------------------------------------------------------------------------------


async def test_a_pod_cannot_read_another_pods_files(driver: Driver, host: Host) -> None:
    victim, attacker = pod_spec(python_server()), pod_spec()
    state = await running(driver, victim)
    await driver.create(attacker)
    secret = uuid.uuid4().hex
    planted = await shell(
        driver, victim, f"for d in /home/instapod/app /var/www /tmp; do echo {secret} > $d/s; done"
    )
    assert planted.exit_code == 0, planted
    on_host = [p for p in host.state_dir(victim.id).rglob("s") if secret in p.read_text()]
    assert len(on_host) == 3  # the files exist, seen from the host

    service = state.services[0].pid
    paths = [str(p) for p in on_host] + [
        f"/proc/{service}/root/home/instapod/app/s",
        "/home/instapod/app/s",
        "/var/www/s",
        "/tmp/s",
    ]
    assert set((await json_from(driver, attacker, READ, *paths)).values()) == {"FileNotFoundError"}
    homes = await driver.exec(attacker, ["/bin/ls", "-A", "/home"], timeout=10)
    assert homes.stdout.split() == ["instapod"]
    search = await run_python(driver, attacker, SEARCH, secret)
    assert (search.exit_code, search.stdout) == (0, "")


@contextmanager
def planted(directory: str, content: str) -> Iterator[str]:
    """A world-readable file in a host directory, removed afterwards; yields its path."""
    with tempfile.NamedTemporaryFile("w", dir=directory, prefix="instapods-test-") as handle:
        handle.write(content)
        handle.flush()
        os.chmod(handle.name, 0o644)
        yield handle.name


async def test_a_pod_cannot_read_the_hosts_root_home(driver: Driver) -> None:
    spec = pod_spec()
    await driver.create(spec)
    with planted("/root", uuid.uuid4().hex) as path:
        listing = await driver.exec(spec, ["/bin/ls", "-A", "/root"], timeout=10)
        assert listing.exit_code != 0
        assert "No such file or directory" in listing.stderr
        assert await json_from(driver, spec, READ, path) == {path: "FileNotFoundError"}


async def test_a_pod_cannot_see_the_pods_directory(driver: Driver, host: Host) -> None:
    spec = pod_spec()
    await driver.create(spec)
    pods_dir = host.state_dir(spec.id).parent
    assert exists(pods_dir / spec.id)
    targets = [str(pods_dir), str(pods_dir.parent), str(host.state_dir(spec.id))]
    code = "import json, os, sys\nprint(json.dumps({p: os.path.exists(p) for p in sys.argv[1:]}))"
    assert await json_from(driver, spec, code, *targets) == dict.fromkeys(targets, False)
    own_tmp = await driver.exec(spec, ["/bin/ls", "-A", "/tmp"], timeout=10)
    assert own_tmp.stdout == ""  # the pod's /tmp is its own, not the host's


@contextmanager
def control_plane_database(secret: str) -> Iterator[Path]:
    """A SQLite file like the control plane's, in a host directory anyone may read (so only
    the sandbox can hide it); removed afterwards."""
    directory = Path(tempfile.mkdtemp(prefix="instapods-control-"))
    try:
        directory.chmod(0o755)
        database = directory / "instapods.db"
        connection = sqlite3.connect(database)
        with connection:
            connection.execute("create table secrets (value text)")
            connection.execute("insert into secrets values (?)", (secret,))
        connection.close()
        database.chmod(0o644)
        yield database
    finally:
        shutil.rmtree(directory)


async def test_a_pod_cannot_reach_the_control_planes_database(driver: Driver, host: Host) -> None:
    spec = pod_spec()
    await driver.create(spec)
    secret = uuid.uuid4().hex
    with control_plane_database(secret) as database:
        uid = str(host.host_uid(spec.id))
        outside = await procs.run(
            ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--",
             "cat", str(database)]
        )  # fmt: skip
        assert secret in outside.stdout  # the pod's user could read it, were it visible

        paths = [str(database), f"/proc/{os.getpid()}/root{database}", str(database.parent)]
        found = await json_from(driver, spec, READ, *paths)
        assert set(found.values()) == {"FileNotFoundError"}, found
        code = "import sqlite3, sys\nsqlite3.connect(f'file:{sys.argv[1]}?mode=ro', uri=True)"
        opened = await run_python(driver, spec, code, str(database))
        assert opened.exit_code != 0
        assert "unable to open database" in opened.stderr


async def test_usr_and_etc_are_read_only(driver: Driver) -> None:
    spec = pod_spec()
    await driver.create(spec)
    code = """
import json, sys
found = {}
for path in sys.argv[1:]:
    try:
        open(path, "a").close()
        found[path] = "written"
    except OSError as error:
        found[path] = error.strerror
print(json.dumps(found))
"""
    created = ["/usr/new-file", "/usr/bin/new-file", "/usr/lib/new-file"]
    found = await json_from(driver, spec, code, *created, "/home/instapod/app/new-file")
    assert found == {
        **dict.fromkeys(created, "Read-only file system"),
        "/home/instapod/app/new-file": "written",
    }
    existing = ["/usr/bin/python3", "/etc/passwd", "/etc/resolv.conf"]
    assert "written" not in (await json_from(driver, spec, code, *existing)).values()
    mounts = ["/usr", "/etc/passwd", "/etc/resolv.conf", "/etc/ssl", "/home/instapod"]
    assert await json_from(driver, spec, READ_ONLY, *mounts) == {
        **dict.fromkeys(mounts[:-1], True),
        "/home/instapod": False,
    }


async def test_a_pod_sees_only_its_own_processes(driver: Driver) -> None:
    neighbour, spec = pod_spec(python_server()), pod_spec(python_server())
    await running(driver, neighbour)
    await running(driver, spec)
    code = """
import os
for pid in os.listdir("/proc"):
    if pid.isdigit():
        print(open(f"/proc/{pid}/cmdline", "rb").read().split(b"\\0")[0].decode())
"""
    result = await run_python(driver, spec, code)
    assert sorted(result.stdout.split()) == ["/usr/bin/python3", "bwrap"]


# -- network -------------------------------------------------------------------------------


@pytest.mark.requires(Capability.NETWORK_ISOLATION)
async def test_a_pod_cannot_connect_to_another_pod(driver: Driver) -> None:
    victim, attacker = pod_spec(python_server()), pod_spec(python_server())
    target = await running(driver, victim)
    await running(driver, attacker)
    assert await http_status(target.address, 8000) == 200  # the victim serves the host
    found = await json_from(driver, attacker, CONNECT, f"{target.address}:8000", "127.0.0.1:8000")
    assert found["127.0.0.1:8000"] == "open"  # the probe does see an open port
    assert found[f"{target.address}:8000"] in ("refused", "timeout")


@pytest.mark.requires(Capability.NETWORK_ISOLATION)
async def test_a_pod_cannot_reach_the_hosts_services(driver: Driver) -> None:
    spec = pod_spec()
    await driver.create(spec)
    addresses = await host_addresses()
    with listening("127.0.0.1") as local, listening("0.0.0.0") as everywhere:  # noqa: S104
        assert reachable_from_here("127.0.0.1", local)
        assert all(reachable_from_here(address, everywhere) for address in addresses)
        targets = [
            f"{address}:{port}"
            for address in ("127.0.0.1", "gateway", *addresses)
            for port in (local, everywhere)
        ]
        assert_blocked(await json_from(driver, spec, CONNECT, *targets))


@pytest.mark.requires(Capability.NETWORK_ISOLATION)
async def test_a_pod_cannot_reach_private_ranges(driver: Driver) -> None:
    spec = pod_spec()
    await driver.create(spec)
    targets = [
        "10.0.0.1:80",
        "10.255.255.53:80",  # this host's resolver: port 53 only
        "172.16.0.1:80",
        "192.168.0.1:80",
        "169.254.169.254:80",  # cloud metadata
        "100.64.0.1:80",
    ]
    assert_blocked(await json_from(driver, spec, CONNECT, *targets))


async def test_a_pod_resolves_names_and_reaches_the_internet(driver: Driver) -> None:
    spec = pod_spec()
    await driver.create(spec)
    resolved = await driver.exec(spec, ["/usr/bin/getent", "hosts", "pypi.org"], timeout=30)
    assert resolved.exit_code == 0, resolved
    assert "pypi.org" in resolved.stdout
    fetched = await run_python(driver, spec, HTTPS, timeout=60)
    assert (fetched.exit_code, fetched.stdout.strip()) == (0, "200"), fetched


# -- resources -----------------------------------------------------------------------------


async def test_a_fork_bomb_stays_inside_its_pod(driver: Driver, host: Host) -> None:
    bomber, neighbour = pod_spec(pids=64), pod_spec(python_server())
    await driver.create(bomber)
    state = await running(driver, neighbour)
    bomb = asyncio.create_task(run_python(driver, bomber, FORK_BOMB, "2", timeout=60))
    try:
        full = await eventually(
            lambda: asyncio.to_thread(host.processes, bomber.id), lambda p: len(p) >= 60
        )
        assert len(full) <= 64
        assert await http_status(state.address, 8000) == 200
        alive = await shell(driver, neighbour, "echo alive")  # it can still start processes
        assert alive.stdout == "alive\n"
    finally:
        result = await bomb
    outcome = json.loads(result.stdout)
    assert outcome["errno"] == errno.EAGAIN
    assert outcome["forked"] < 64


async def test_a_memory_hog_is_killed_inside_its_pod(driver: Driver) -> None:
    hog, neighbour = pod_spec(memory_mb=64), pod_spec(python_server())
    await driver.create(hog)
    state = await running(driver, neighbour)

    async def neighbour_answers() -> list[int]:
        codes = []
        for _ in range(5):
            codes.append(await http_status(state.address, 8000))
            await asyncio.sleep(0.1)
        return codes

    killed, codes = await asyncio.gather(run_python(driver, hog, HOG), neighbour_answers())
    assert killed.exit_code == 137  # SIGKILL, from the OOM killer
    assert codes == [200] * 5
    assert (await driver.usage(hog.id)).memory_bytes <= 64 * MIB
    after = await driver.state(neighbour.id)
    assert after.services == state.services  # same process, never restarted


@pytest.mark.requires(Capability.DISK_QUOTA)
async def test_filling_the_disk_stops_at_the_pods_quota(driver: Driver) -> None:
    filler, neighbour = pod_spec(disk_gb=0.1), pod_spec(disk_gb=0.1)
    for spec in (filler, neighbour):
        await driver.create(spec)
    fill = await shell(driver, filler, "dd if=/dev/zero of=/home/instapod/fill bs=1M")
    assert fill.exit_code != 0
    assert "No space left on device" in fill.stderr
    size = await driver.exec(filler, ["/usr/bin/stat", "-c", "%s", "../fill"], timeout=10)
    assert int(size.stdout) <= 0.1 * 1024 * MIB
    more = await shell(driver, filler, "dd if=/dev/zero of=/tmp/more bs=1M count=5")
    assert "No space left on device" in more.stderr  # /tmp counts against the same disk
    usage = await driver.usage(filler.id)
    assert usage.disk_bytes > 0.95 * usage.disk_limit_bytes
    wrote = await shell(driver, neighbour, "dd if=/dev/zero of=/home/instapod/data bs=1M count=20")
    assert wrote.exit_code == 0, wrote


# -- privileges ----------------------------------------------------------------------------


async def test_no_user_namespaces_inside_a_pod(driver: Driver) -> None:
    spec = pod_spec()
    await driver.create(spec)
    for argv in (["/usr/bin/unshare", "-U", "/bin/true"], ["/usr/bin/unshare", "-r", "/bin/id"]):
        result = await driver.exec(spec, argv, timeout=10)
        assert result.exit_code != 0, result
        assert "unshare failed" in result.stderr


async def test_pod_processes_are_uid_1000_inside_and_the_pods_uid_outside(
    driver: Driver, host: Host
) -> None:
    spec, other = pod_spec(python_service("app", WHOAMI, port=8000)), pod_spec(python_server())
    await running(driver, spec)
    await running(driver, other)
    logs = await eventually(lambda: driver.logs(spec.id, "app", 10), lambda got: len(got) >= 1)
    assert logs[0].message == "uid 1000 1000"
    uids = {host.host_uid(spec.id), host.host_uid(other.id)}
    assert len(uids) == 2
    assert not uids & {0, 1000}
    for pod in (spec, other):
        uid = host.host_uid(pod.id)
        for pid in host.processes(pod.id):
            assert status_ids(pid) == ([uid] * 4, [uid] * 4), pid
    server = next(pid for pid in host.processes(spec.id) if command(pid) == "python3")
    mapping = read_text(f"/proc/{server}/uid_map").split()
    assert mapping == ["1000", str(host.host_uid(spec.id)), "1"]
