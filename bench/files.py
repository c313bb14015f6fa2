"""The Files API on a real `instapods server`, against plain local file operations.

Starts `instapods server` the way bench/pod_start.py does (its own data and pods directories
under /tmp/instapods-bench, a free port; its helpers are imported from there), registers a
user, creates one static pod through the API and prints, in one run:

- upload: `POST /files/upload` of a 32 MiB random file (multipart, the `path` field before
  the file, so it streams into the pod) into a new file and over the same file, and download:
  `GET /files/download` of it, streamed; MB/s against the floor, `shutil.copyfile` of the
  same file on the same disk (page cache to page cache, as the pod's writes are; into a new
  file, and over the same file). Both also straight to the API's Unix socket, without the
  edge (Caddy);
- listing: `GET /files` of a directory of 10,000 entries (made by one `POST /files/unpack`),
  against `os.scandir` + lstat of 10,000 local entries;
- small writes: 1,000 sequential `PUT /files/content`, and the same 1,000 files in one
  `POST /files/unpack` (tar.gz), against 1,000 bare API calls (`GET /api/auth/user`) over the
  same client.

Times are medians of RUNS runs (min-max in brackets), after one untimed warm-up; MB = 2^20
bytes. Beside each figure, the CPU time it cost on each side (mean per run): this client, the
server process, its Caddy and the pod's cgroup (the files agent). Requests go through the edge
on 127.0.0.1:PORT, like a client's, except where marked. As root:
    .venv/bin/python bench/files.py [RUNS]      (default 7; about 30 s)
The pod is deleted through the API at the end and the server stopped; whatever a failure
leaves (server, Caddy, the pod on the host) is removed by PID and by the pods directory.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import os
import secrets
import shutil
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import httpx

# bench/ is not a package; run as a script, this file's directory is on sys.path.
from pod_start import (
    BASE,
    MIB,
    Server,
    Timing,
    check_host,
    clean_up,
    create,
    delete_and_wait,
    machine,
    other_servers,
    print_dropped,
    print_machine,
    register,
    running_server,
)

from instapods.runtime.drivers.sandbox.cgroups import PodCgroup

SIZE = 32 * MIB  # the default upload limit (max_upload_bytes)
LIST_ENTRIES = 10_000
SMALL_FILES = 1_000
HOME = "/home/instapod/bench"
RUNNING_TIMEOUT = 60.0

# The targets.
TARGET_TRANSFER_RATIO = 1 / 3  # upload and download against the local copy
TARGET_LIST_MS = 200.0


# -- the client -----------------------------------------------------------------------------


def send(server: Server, client: httpx.Client, method: str, url: str, **options: Any) -> Any:
    """One API request answered 2xx; its JSON. A request the edge closed unanswered (it
    closes kept-alive connections when it reloads its routes; see bench/pod_start.py) is
    counted and sent again: every request here can be repeated."""
    for _ in range(5):
        try:
            response = client.request(method, url, **options)
        except (httpx.RemoteProtocolError, httpx.ReadError) as exc:
            server.dropped.append(f"{method} {url}: {type(exc).__name__}")
            continue
        if not response.is_success:
            raise RuntimeError(f"{method} {url}: {response.status_code} {response.text[:500]}")
        return response.json()
    raise RuntimeError(f"{method} {url}: the edge kept closing the connection")


def direct_client(server: Server) -> httpx.Client:
    """A client of the API's own Unix socket (the edge's upstream), with the same token."""
    socket_path = server.data_dir / "run" / "api.sock"
    return httpx.Client(
        transport=httpx.HTTPTransport(uds=str(socket_path)),
        base_url=f"http://127.0.0.1:{server.port}",
        headers={"Authorization": server.api.headers["Authorization"]},
        timeout=120,
    )


def wait_running(server: Server, name: str) -> None:
    deadline = time.monotonic() + RUNNING_TIMEOUT
    while True:
        status = send(server, server.api, "GET", f"/api/pods/{name}")["status"]
        if status == "running":
            return
        if status == "error" or time.monotonic() > deadline:
            raise RuntimeError(f"pod {name} is {status}\n{server.output()}")
        time.sleep(0.05)


@dataclass(frozen=True)
class Cpu:
    """CPU seconds per run (the mean of the timed runs) on each side: this client, the server
    process (API, control plane), its Caddy (the edge) and the pod's cgroup (the files agent)."""

    SIDES: ClassVar[tuple[str, ...]] = ("client", "server", "edge", "pod")
    client: float = 0.0
    server: float = 0.0
    edge: float = 0.0
    pod: float = 0.0

    @staticmethod
    def mean(cpus: list[Cpu], count: int) -> Cpu:
        return Cpu(*(sum(getattr(c, side) for c in cpus) / count for side in Cpu.SIDES))

    def __str__(self) -> str:
        return "".join(f"{getattr(self, side) * 1000:7.1f}" for side in Cpu.SIDES)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (clock ticks, 10 ms here)."""
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Meters:
    def __init__(self, server: Server, pod_id: str) -> None:
        self.server = server
        state = json.loads((server.pods_dir / pod_id / "cgroup.json").read_text())
        self.cgroup = PodCgroup(state["paths"], state["version"])

    def read(self) -> tuple[float, float, float, float]:
        caddy = self.server.caddy_pid()
        return (
            time.process_time(),
            cpu_seconds(self.server.process.pid),
            cpu_seconds(caddy) if caddy else 0.0,
            self.cgroup.cpu_usage_ns() / 1e9,
        )


@dataclass(frozen=True)
class Measured:
    time: Timing
    cpu: Cpu = Cpu()


def metered(work: Callable[[], object], meters: Meters | None) -> tuple[float, Cpu]:
    """Seconds `work()` took, and the CPU it cost on each side."""
    before = meters.read() if meters else (0.0, 0.0, 0.0, 0.0)
    started = time.perf_counter()
    work()
    took = time.perf_counter() - started
    after = meters.read() if meters else (0.0, 0.0, 0.0, 0.0)
    return took, Cpu(*(a - b for a, b in zip(after, before, strict=True)))


def timed(
    runs: int,
    work: Callable[[int], object],
    meters: Meters | None = None,
    tidy: Callable[[int], object] | None = None,
) -> Measured:
    """`work(0)` once untimed (the first file operation starts the pod's files agent), then
    `work(1)` … `work(runs)`, each followed by an untimed `tidy(run)`."""
    work(0)
    samples, cpus = [], []
    for run in range(1, runs + 1):
        took, cpu = metered(functools.partial(work, run), meters)
        samples.append(took)
        cpus.append(cpu)
        if tidy:
            tidy(run)
    return Measured(Timing(tuple(samples)), Cpu.mean(cpus, runs))


def rate(measured: Measured, size: int = SIZE) -> float:
    """MB/s at the median time."""
    return size / MIB / (measured.time.ms / 1000)


def tar_gz(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, int(time.time())
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


# -- the measurements -------------------------------------------------------------------------


@dataclass
class Results:
    runs: int
    machine: str = ""
    neighbours: set[int] = field(default_factory=set)
    load_after: str = ""
    dropped: list[str] = field(default_factory=list)
    copies: dict[str, Measured] = field(default_factory=dict)  # the floors: new, same
    transfers: dict[str, dict[str, Measured]] = field(default_factory=dict)  # edge, direct
    scandir: Measured | None = None
    listing: Measured | None = None
    unpack_list: float = 0.0  # seconds, the one unpack of LIST_ENTRIES files
    small: dict[str, tuple[float, Cpu]] = field(default_factory=dict)  # bare, put, unpack


def floor_copies(source: Path, folder: Path, runs: int) -> dict[str, Measured]:
    """shutil.copyfile (sendfile, page cache to page cache) into a new file, and over the
    same file (its old pages go first, waiting for any writeback of them)."""
    new = timed(runs, lambda run: shutil.copyfile(source, folder / f"copy-{run}"),
                tidy=lambda run: (folder / f"copy-{run}").unlink())  # fmt: skip
    same = timed(runs, lambda _: shutil.copyfile(source, folder / "copy"))
    return {"new": new, "same": same}


def floor_scandir(root: Path, runs: int) -> Measured:
    folder = root / "list"
    folder.mkdir()
    for index in range(LIST_ENTRIES):
        (folder / f"f{index:05}").touch()

    def scan(_: int) -> None:
        with os.scandir(folder) as found:
            stats = [entry.stat(follow_symlinks=False) for entry in found]
        assert len(stats) == LIST_ENTRIES

    return timed(runs, scan)


def transfers(
    server: Server, client: httpx.Client, pod: str, source: Path, runs: int, meters: Meters
) -> dict[str, Measured]:
    """Upload of the file `source` into a new file (deleted after each run) and over the same
    file, and download of it, streamed both ways and checked against its SHA-256."""
    data = source.read_bytes()
    base = f"/api/pods/{pod}/files"

    def upload(name: str) -> None:
        # From a file, which httpx sends in 64 KiB pieces: given bytes, it sends them with
        # `buffer = buffer[sent:]` after each send(), a copy of the rest each time.
        with source.open("rb") as handle:
            files = {"file": (name, handle, "application/octet-stream")}
            reply = send(server, client, "POST", f"{base}/upload", data={"path": HOME},
                         files=files)  # fmt: skip
        assert reply["size"] == len(data), reply

    def delete(run: int) -> None:
        send(server, client, "DELETE", base, params={"path": f"{HOME}/new-{run}.bin"})

    def download(check: bool = False) -> None:
        digest = hashlib.sha256()
        received = 0
        params = {"path": f"{HOME}/same.bin"}
        with client.stream("GET", f"{base}/download", params=params) as response:
            if response.status_code != 200:
                raise RuntimeError(f"download: {response.status_code} {response.read()!r}")
            for chunk in response.iter_raw():
                received += len(chunk)
                if check:
                    digest.update(chunk)
        assert received == len(data), received
        if check and digest.digest() != hashlib.sha256(data).digest():
            raise RuntimeError("the downloaded file differs from the uploaded one")

    measured = {
        "upload, new file": timed(runs, lambda run: upload(f"new-{run}.bin"), meters, delete),
        "upload, same file": timed(runs, lambda _: upload("same.bin"), meters),
    }
    download(check=True)
    measured["download"] = timed(runs, lambda _: download(), meters)
    return measured


def listing(server: Server, pod: str, runs: int, meters: Meters) -> tuple[Measured, float]:
    """GET /files of a directory of LIST_ENTRIES entries, made by one unpack (timed too)."""
    folder = f"{HOME}/list"
    archive = tar_gz({f"f{index:05}": b"" for index in range(LIST_ENTRIES)})
    started = time.perf_counter()
    reply = send(server, server.api, "POST", f"/api/pods/{pod}/files/unpack",
                 data={"path": folder}, files={"archive": ("list.tar.gz", archive)})  # fmt: skip
    unpacked = time.perf_counter() - started
    assert reply["files"] == LIST_ENTRIES, reply

    def list_files(_: int) -> None:
        reply = send(server, server.api, "GET", f"/api/pods/{pod}/files", params={"path": folder})
        assert len(reply["files"]) == LIST_ENTRIES, len(reply["files"])
        assert not reply["truncated"]

    return timed(runs, list_files, meters), unpacked


def small_writes(server: Server, pod: str, meters: Meters) -> dict[str, tuple[float, Cpu]]:
    """Seconds and CPU for SMALL_FILES bare API calls, SMALL_FILES PUT /files/content, and
    one unpack of the same files."""
    api, folder = server.api, f"{HOME}/small"
    send(server, api, "GET", "/api/auth/user")

    def bare_calls() -> None:
        for _ in range(SMALL_FILES):
            send(server, api, "GET", "/api/auth/user")

    def puts() -> None:
        for index in range(SMALL_FILES):
            body = {"path": f"{folder}/f{index:04}.txt", "content": f"file {index}\n"}
            send(server, api, "PUT", f"/api/pods/{pod}/files/content", json=body)

    contents = {f"f{index:04}.txt": f"file {index}\n".encode() for index in range(SMALL_FILES)}
    archive = tar_gz(contents)

    def unpack() -> None:
        files = {"archive": ("small.tar.gz", archive)}
        url = f"/api/pods/{pod}/files/unpack"
        reply = send(server, api, "POST", url, data={"path": folder}, files=files)
        assert reply["files"] == SMALL_FILES, reply

    return {
        "bare": metered(bare_calls, meters),
        "put": metered(puts, meters),
        "unpack": metered(unpack, meters),
    }


def measure(server: Server, root: Path, runs: int) -> Results:
    results = Results(runs, machine())
    results.neighbours.update(other_servers(server.process.pid))
    register(server)
    source = root / "big.bin"  # what is uploaded, and the floor's source
    source.write_bytes(secrets.token_bytes(SIZE))
    with tempfile.TemporaryDirectory(dir=root) as floor:
        results.copies = floor_copies(source, Path(floor), runs)
        results.scandir = floor_scandir(Path(floor), runs)
    pod, _ = create(server, "files", "static")
    wait_running(server, "files")
    time.sleep(0.5)  # the edge reloads its routes once the pod runs
    meters = Meters(server, pod["id"])
    results.transfers["edge"] = transfers(server, server.api, "files", source, runs, meters)
    with direct_client(server) as direct:
        results.transfers["direct"] = transfers(server, direct, "files", source, runs, meters)
    results.listing, results.unpack_list = listing(server, "files", runs, meters)
    results.small = small_writes(server, "files", meters)
    delete_and_wait(server, [pod])
    results.neighbours.update(other_servers(server.process.pid))
    results.load_after = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    results.dropped = server.dropped
    return results


# -- the report -----------------------------------------------------------------------------


LABEL = 44  # columns: the label, the time, the speed or ratio, the CPU time by side
TIME = 24
MIDDLE = 16
CPU_HEADER = "CPU ms:" + "".join(f"{side:>7}" for side in Cpu.SIDES)


def row(label: str, value: object, note: str = "") -> None:
    print(f"  {label:<{LABEL}}{value}  {note}".rstrip())


def line(label: str, time_text: object, middle: str = "", cpu: Cpu | None = None) -> None:
    cpu_text = f"{'':7}{cpu}" if cpu else ""
    row(label, f"{time_text!s:<{TIME}}{middle:<{MIDDLE}}{cpu_text}")


def header(title: str, time_text: str, middle: str = "") -> None:
    print(f"{title:<{LABEL + 2}}{time_text:<{TIME}}{middle:<{MIDDLE}}{CPU_HEADER}")


def verdict(label: str, value: str, ok: bool) -> None:
    row(label, value, "PASS" if ok else "MISS")


def report_transfers(results: Results) -> None:
    floors = {kind: rate(measured) for kind, measured in results.copies.items()}
    header(f"{SIZE // MIB} MiB file", "median (min-max)", " MB/s  x floor")
    for kind, label in (("new", "into a new file"), ("same", "over the same file")):
        line(f"floor: copyfile {label}", results.copies[kind].time, f"{floors[kind]:5.0f}")
    routes = {"edge": "through the edge", "direct": "straight to the API socket (no edge)"}
    for route, label in routes.items():
        print(f"  {label}")
        for kind, measured in results.transfers[route].items():
            speed = rate(measured)
            ratio = speed / floors["same" if kind.endswith("same file") else "new"]
            line(f"  {kind}", measured.time, f"{speed:5.0f}  {ratio:7.2f}", measured.cpu)


def report_listing(results: Results) -> None:
    assert results.scandir is not None
    assert results.listing is not None
    header(f"listing {LIST_ENTRIES:,} entries", "median (min-max)")
    line("floor: os.scandir + lstat", results.scandir.time)
    listed = results.listing
    ratio = listed.time.ms / results.scandir.time.ms
    line("GET /files", listed.time, f"{ratio:4.1f}x floor", listed.cpu)
    line("  (making them: one POST /files/unpack)", f"{results.unpack_list * 1000:6.0f} ms")


def report_writes(results: Results) -> None:
    header(f"writing {SMALL_FILES:,} small files, one by one", "  total  per call",
           "(CPU per call)")  # fmt: skip
    (bare, bare_cpu), (puts, put_cpu) = results.small["bare"], results.small["put"]
    for label, seconds, cpu in (
        (f"floor: {SMALL_FILES:,} x GET /api/auth/user", bare, bare_cpu),
        (f"{SMALL_FILES:,} x PUT /files/content", puts, put_cpu),
    ):
        per_call = seconds / SMALL_FILES * 1000
        line(label, f"{seconds:5.2f} s  {per_call:5.2f} ms", "", Cpu.mean([cpu], SMALL_FILES))
    line("  a PUT beyond a bare call", f"{'':9}{(puts - bare) / SMALL_FILES * 1000:5.2f} ms")
    unpack, unpack_cpu = results.small["unpack"]
    line("one POST /files/unpack of the same files", f"{unpack:5.2f} s",
         f"({puts / unpack:.0f}x less)", unpack_cpu)  # fmt: skip


def report_targets(results: Results) -> None:
    assert results.listing is not None
    print("targets (through the edge)")
    floors = {kind: rate(measured) for kind, measured in results.copies.items()}
    for kind, measured in results.transfers["edge"].items():
        floor = "same" if kind.endswith("same file") else "new"
        ratio = rate(measured) / floors[floor]
        verdict(f"{kind} >= 1/3 of its floor", f"{ratio:5.2f}",
                ratio >= TARGET_TRANSFER_RATIO)  # fmt: skip
    listed = results.listing.time.ms
    verdict(f"listing {LIST_ENTRIES:,} entries < {TARGET_LIST_MS:.0f} ms", f"{listed:5.0f} ms",
            listed < TARGET_LIST_MS)  # fmt: skip


def report(results: Results) -> None:
    print(f"files API: {results.runs} runs each after one warm-up, median (min-max); "
          f"MB = 2^20 bytes")  # fmt: skip
    print_machine(results.machine, results.load_after, results.neighbours)
    for part in (report_transfers, report_listing, report_writes):
        print()
        part(results)
    print_dropped(results.dropped)
    print()
    report_targets(results)


def main(argv: list[str]) -> None:
    runs = int(argv[1]) if len(argv) > 1 else 7
    check_host(0)
    BASE.mkdir(mode=0o711, exist_ok=True)
    os.chmod(BASE, 0o711)  # noqa: S103 (pod users must reach their pods)
    root = BASE / secrets.token_hex(6)
    root.mkdir()
    os.chmod(root, 0o711)  # noqa: S103
    try:
        with running_server(root, 0) as server:
            results = measure(server, root, runs)
    finally:
        clean_up(root)
    report(results)


if __name__ == "__main__":
    main(sys.argv)
