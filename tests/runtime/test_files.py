"""The Files API of a pod (`Driver.files`, instapods.runtime.files) against real sandboxes.

First what each operation does, then who owns what it writes, then what happens when a write or
a read goes wrong midway, then attacks from inside the pod: links and races that try to make an
operation reach past /home/instapod, /var/www and /tmp. Each attack test shows the target exists
for the pod first, so a refusal means "blocked", not "absent". Last, the pool of agents through
a pod's life (stopped, destroyed, many callers at once).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import os
import stat
import tarfile
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, example, given, reject, settings
from hypothesis import strategies as st

from instapods.runtime.base import Driver, ExecResult, PodSpec, PodStatus
from instapods.runtime.drivers.sandbox.storage import AREAS
from instapods.runtime.errors import PodNotFound
from instapods.runtime.files import (
    MAX_NAME_BYTES,
    MAX_PATH_BYTES,
    ROOTS,
    FileEntry,
    FileError,
    FileProblem,
    Listing,
    PodFiles,
    file_name,
    pod_path,
)
from tests.fixtures.sandbox import pod_spec, python_server
from tests.runtime.support import Host, eventually

T = TypeVar("T")
MIB = 1024**2
HOME = "/home/instapod"
APP = "/home/instapod/app"
AGENT_ARGV = [b"/usr/bin/python3", b"-I", b"-c"]  # how a files agent's command line begins
REFUSED = (FileProblem.INVALID, FileProblem.DENIED, FileProblem.NOT_FOUND)
# Links a tenant plants in its app directory, each pointing somewhere past the roots.
OUTWARD = {
    "etc": "/etc",
    "root": "/",
    "proc": "/proc/self/root",
    "home": "/home",  # the parent of one root, not a root
    "up": "../../../etc",  # relative, climbing out of /home/instapod
    "passwd": "/etc/passwd",
    "hostname": "/etc/hostname",
    "python": "/usr/bin/python3",
    "zero": "/dev/zero",
}
OUTWARD_DIRS = [f"{APP}/{name}" for name in ("etc", "root", "proc", "home", "up")]
OUTWARD_FILES = [f"{APP}/{name}" for name in ("passwd", "hostname", "python", "zero")]
# Paths with an outward link in the middle: the directory that would hold their last name
# lies outside the roots.
THROUGH_DIRS = [
    f"{APP}/etc/ssl",
    f"{APP}/root/home/instapod",  # the pod's own directory, but reached through /
    f"{APP}/proc/etc",
    f"{APP}/home/instapod",
    f"{APP}/up/ssl",
]
THROUGH_FILES = [
    f"{APP}/etc/passwd",
    f"{APP}/root/etc/passwd",
    f"{APP}/proc/etc/hostname",
    f"{APP}/up/passwd",
    f"{APP}/home/instapod/app/own.txt",  # the pod's own file, but reached through /home
]
PLANT = (
    f"cd {APP} && rm -rf {' '.join(OUTWARD)} fifo loop && "
    + " && ".join(f"ln -s {target} {name}" for name, target in OUTWARD.items())
    + " && mkfifo fifo && ln -s loop loop"
)
# A tenant's view of what the links point at, to show the targets exist for the pod.
SEEN = "cat /etc/hostname /etc/passwd && ls /etc/ssl >/dev/null && test -x /usr/bin/python3"
# The app's page, as the pod's own server serves it.
FETCH = "import urllib.request as u; print(u.urlopen('http://127.0.0.1:8000/index.html').read())"


# -- helpers ---------------------------------------------------------------------------------


async def chunks_of(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


def content(data: bytes, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    return chunks_of(*(data[i : i + size] for i in range(0, len(data), size)))


async def read_all(files: PodFiles, path: str) -> bytes:
    """A file's bytes, checking they match the size the read announced."""
    async with files.read(path) as download:
        data = b"".join([chunk async for chunk in download.chunks])
    assert download.size == len(data)
    return data


async def refused(work: Awaitable[object], *problems: FileProblem) -> FileError:
    """`work` raises FileError with one of `problems` (by default: a refusal)."""
    with pytest.raises(FileError) as caught:
        await work
    assert caught.value.problem in (problems or REFUSED), caught.value.message
    return caught.value


async def all_refused(works: Iterable[Awaitable[object]]) -> None:
    """Each of `works` is refused (run side by side)."""
    await asyncio.gather(*(refused(work) for work in works))


async def names(files: PodFiles, path: str) -> list[str]:
    listing = await files.listing(path)
    assert listing is not None, f"{path} is missing"
    return [entry.name for entry in listing.entries]


async def modes(files: PodFiles, path: str) -> dict[str, int]:
    listing = await files.listing(path)
    assert listing is not None, f"{path} is missing"
    return {entry.name: entry.mode for entry in listing.entries}


async def shell(driver: Driver, spec: PodSpec, script: str, timeout: float = 30) -> ExecResult:
    """Run a shell script inside the pod, as its user; it must succeed."""
    result = await driver.exec(spec, ["/bin/sh", "-c", script], timeout=timeout)
    assert result.exit_code == 0, result
    return result


async def attempt(driver: Driver, spec: PodSpec, script: str) -> ExecResult:
    return await driver.exec(spec, ["/bin/sh", "-c", script], timeout=30)


def tar(*members: tuple[str, bytes | None] | tarfile.TarInfo, compress: bool = False) -> bytes:
    """A tar archive of (name, bytes) files, (name, None) directories and raw members."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz" if compress else "w") as archive:
        for member in members:
            if isinstance(member, tarfile.TarInfo):
                archive.addfile(member)
                continue
            name, data = member
            info = tarfile.TarInfo(name)
            if data is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                archive.addfile(info)
            else:
                info.size, info.mode = len(data), 0o755 if name.endswith(".sh") else 0o644
                archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def link_member(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info


def on_disk(host: Host, spec: PodSpec, path: str) -> Path:
    """Where a pod path lies on the host: the pod's mounted disk."""
    for root, area in AREAS.items():
        if path == root or path.startswith(root + "/"):
            return host.state_dir(spec.id) / "disk" / area / path[len(root) :].lstrip("/")
    raise AssertionError(f"{path} is not on the pod's disk")


def disk_tree(host: Host, spec: PodSpec) -> dict[str, str]:
    """Every name on the pod's disk (relative to the disk) with its kind, seen from the host."""
    disk = host.state_dir(spec.id) / "disk"
    found: dict[str, str] = {}
    for top, dirs, files in os.walk(disk):
        for name in dirs + files:
            path = Path(top, name)
            mode = path.lstat().st_mode
            kind = "link" if stat.S_ISLNK(mode) else "dir" if stat.S_ISDIR(mode) else "file"
            found[str(path.relative_to(disk))] = kind
    return found


def disk_bytes(host: Host, spec: PodSpec) -> list[bytes]:
    """The content of every regular file on the pod's disk."""
    found = []
    for top, _, files in os.walk(host.state_dir(spec.id) / "disk"):
        for name in files:
            path = Path(top, name)
            if stat.S_ISREG(path.lstat().st_mode):
                found.append(path.read_bytes())
    return found


def outside(host: Host, spec: PodSpec) -> dict[str, Any]:
    """What lies past the pod's roots and must never change: host files, the pod's own /etc
    (kept by the runtime beside the disk), the runtime's files for the pod."""
    state = host.state_dir(spec.id)
    files = [Path("/etc/hostname"), Path("/etc/passwd"), *sorted((state / "etc").iterdir())]
    return {
        "files": {str(p): (p.read_bytes(), p.stat().st_mtime_ns, p.stat().st_mode) for p in files},
        "state": sorted(p.name for p in state.iterdir()),
        "disk": sorted(p.name for p in (state / "disk").iterdir()),
        "host etc": sorted(os.listdir("/etc")),
    }


def processes_of(uid: int) -> list[tuple[int, list[bytes]]]:
    """Host processes (but zombies) whose real uid is `uid`, with their command lines."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            status = Path(f"/proc/{entry}/status").read_text()
            argv = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        # A zombie is an exit status waiting for its parent (which may be an init that never
        # collects), no longer a process that runs or holds anything.
        if int(fields["Uid"].split()[0]) == uid and not fields["State"].strip().startswith("Z"):
            found.append((int(entry), argv))
    return found


def agents_of(uid: int) -> list[int]:
    """The files agents running as `uid` (the Python processes, not their sandbox wrappers)."""
    return [pid for pid, argv in processes_of(uid) if argv[:3] == AGENT_ARGV]


async def none_left(uid: int) -> None:
    """No process of `uid` is left (a killed one may take a moment to be gone)."""

    async def found() -> list[tuple[int, list[bytes]]]:
        return processes_of(uid)

    await eventually(found, lambda processes: processes == [], timeout=5)


@contextlib.asynccontextmanager
async def counting_agents(uid: int) -> AsyncIterator[list[int]]:
    """Samples how many files agents run as `uid` while the block runs; yields the samples."""
    samples: list[int] = []
    done = asyncio.Event()

    async def sample() -> None:
        while not done.is_set():
            samples.append(len(agents_of(uid)))
            await asyncio.sleep(0.005)

    sampler = asyncio.create_task(sample())
    try:
        yield samples
    finally:
        done.set()
        await sampler


@pytest.fixture
async def pod(driver: Driver) -> PodSpec:
    """A created pod, never started (files work either way)."""
    spec = pod_spec()
    await driver.create(spec)
    return spec


@pytest.fixture
def files(driver: Driver, pod: PodSpec) -> PodFiles:
    return driver.files(pod)


# -- what each operation does ----------------------------------------------------------------


async def test_list_gives_sorted_entries_with_modes_and_sizes(
    driver: Driver, pod: PodSpec, files: PodFiles
) -> None:
    for name, data in [("b.txt", b"bee"), ("B", b""), ("a.txt", b"a" * 5000), ("_x", b"1")]:
        await files.write(f"{APP}/{name}", chunks_of(data))
    await files.make_dir(f"{APP}/dir")
    await shell(driver, pod, f"cd {APP} && chmod 600 b.txt && chmod 755 _x && ln -s b.txt link")

    listing = await files.listing(APP)
    assert listing is not None
    assert not listing.truncated
    entries = {entry.name: entry for entry in listing.entries}
    assert [entry.name for entry in listing.entries] == sorted(entries)
    assert list(entries) == ["B", "_x", "a.txt", "b.txt", "dir", "link"]
    assert {name: e.permissions for name, e in entries.items()} == {
        "B": "-rw-r--r--",
        "_x": "-rwxr-xr-x",
        "a.txt": "-rw-r--r--",
        "b.txt": "-rw-------",
        "dir": "drwxr-xr-x",
        "link": "lrwxrwxrwx",  # the link itself, not the file it names
    }
    assert (entries["a.txt"].size, entries["b.txt"].size, entries["B"].size) == (5000, 3, 0)
    assert entries["dir"].is_dir
    assert not entries["link"].is_dir
    assert entries["link"].size == len("b.txt")

    assert await files.listing(f"{APP}/missing") is None
    assert await files.listing(f"{APP}/missing/deeper") is None
    await refused(files.listing(f"{APP}/b.txt"), FileProblem.NOT_A_DIRECTORY)
    assert await names(files, HOME) == ["app"]
    assert await names(files, "/var/www") == []
    assert await names(files, "/tmp") == []


async def test_read_streams_a_file_in_chunks_with_its_size(files: PodFiles) -> None:
    data = os.urandom(3 * MIB + 17)
    assert await files.write(f"{APP}/big.bin", content(data, MIB)) == len(data)
    async with files.read(f"{APP}/big.bin") as download:
        assert download.size == len(data)
        received = [chunk async for chunk in download.chunks]
    assert len(received) > 1
    assert b"".join(received) == data

    await files.write("/tmp/empty", chunks_of())
    assert await read_all(files, "/tmp/empty") == b""
    await refused(read_all(files, APP), FileProblem.IS_A_DIRECTORY)
    await refused(read_all(files, f"{APP}/missing"), FileProblem.NOT_FOUND)
    await refused(read_all(files, f"{APP}/big.bin/deeper"), FileProblem.NOT_A_DIRECTORY)


async def test_write_creates_parents_and_replaces_keeping_the_mode(
    driver: Driver, pod: PodSpec, files: PodFiles
) -> None:
    path = f"{APP}/a/b/c/page.html"
    assert await files.write(path, chunks_of(b"<h1>", b"one", b"</h1>")) == 12
    assert await read_all(files, path) == b"<h1>one</h1>"
    assert (await modes(files, f"{APP}/a"))["b"] == stat.S_IFDIR | 0o755
    assert (await modes(files, f"{APP}/a/b/c"))["page.html"] == stat.S_IFREG | 0o644

    await shell(driver, pod, f"chmod 750 {path}")
    assert await files.write(path, chunks_of(b"two")) == 3
    assert await read_all(files, path) == b"two"
    assert (await modes(files, f"{APP}/a/b/c"))["page.html"] == stat.S_IFREG | 0o750
    assert await names(files, f"{APP}/a/b/c") == ["page.html"]  # no temporary left beside it

    await refused(files.write(f"{APP}/a", chunks_of(b"x")), FileProblem.IS_A_DIRECTORY)
    await refused(files.write(f"{path}/x", chunks_of(b"x")), FileProblem.NOT_A_DIRECTORY)
    await refused(files.write("/tmp", chunks_of(b"x")), FileProblem.INVALID)
    assert await read_all(files, path) == b"two"


async def test_write_goes_through_a_link_to_a_file_inside_the_roots(
    driver: Driver, pod: PodSpec, files: PodFiles
) -> None:
    await files.write("/var/www/target.txt", chunks_of(b"old"))
    await shell(
        driver, pod, f"chmod 640 /var/www/target.txt && ln -s /var/www/target.txt {APP}/abs && "
        f"ln -s ../../../var/www/target.txt {APP}/rel && mkdir /var/www/dir && "
        f"ln -s /var/www/dir {APP}/dir"
    )  # fmt: skip
    assert await files.write(f"{APP}/abs", chunks_of(b"through an absolute link")) == 24
    assert await read_all(files, "/var/www/target.txt") == b"through an absolute link"
    await files.write(f"{APP}/rel", chunks_of(b"through a relative link"))
    assert await read_all(files, "/var/www/target.txt") == b"through a relative link"
    app = await modes(files, APP)
    assert stat.S_ISLNK(app["abs"])  # the links stay links
    assert stat.S_ISLNK(app["rel"])
    assert (await modes(files, "/var/www"))["target.txt"] == stat.S_IFREG | 0o640
    # a link to a directory, a root's included, is no file to write, and stays a link
    await shell(driver, pod, f"ln -s /var/www {APP}/www")
    for link in ("dir", "www"):
        await refused(files.write(f"{APP}/{link}", chunks_of(b"x")), FileProblem.IS_A_DIRECTORY)
        assert stat.S_ISLNK((await modes(files, APP))[link])
    assert (await shell(driver, pod, "ls -A /var/www")).stdout.split() == ["dir", "target.txt"]


async def test_make_dir_creates_parents_and_is_idempotent(
    driver: Driver, pod: PodSpec, files: PodFiles
) -> None:
    await files.make_dir(f"{APP}/x/y/z")
    await files.make_dir(f"{APP}/x/y/z")
    await files.make_dir(f"{APP}/x")
    await files.make_dir("/tmp")
    assert await names(files, f"{APP}/x/y") == ["z"]
    assert (await modes(files, f"{APP}/x/y"))["z"] == stat.S_IFDIR | 0o755
    await files.write(f"{APP}/file", chunks_of(b"f"))
    await refused(files.make_dir(f"{APP}/file"), FileProblem.NOT_A_DIRECTORY)
    await refused(files.make_dir(f"{APP}/file/sub"), FileProblem.NOT_A_DIRECTORY)
    made = await shell(driver, pod, f"test -d {APP}/x/y/z && stat -c %U {APP}/x/y/z")
    assert made.stdout.strip() == "instapod"


async def test_remove_takes_files_links_and_trees(
    driver: Driver, pod: PodSpec, files: PodFiles
) -> None:
    await files.write(f"{APP}/file", chunks_of(b"f"))
    await files.write("/var/www/target", chunks_of(b"kept"))
    await files.write(f"{APP}/tree/a/b/deep.txt", chunks_of(b"d"))
    await shell(
        driver, pod, f"cd {APP} && ln -s /var/www/target link && ln -s /var/www dirlink && "
        "ln -s /var/www/target tree/a/inner && chmod 700 tree/a/b"
    )  # fmt: skip

    await files.remove(f"{APP}/file")
    await files.remove(f"{APP}/link")
    await files.remove(f"{APP}/dirlink")
    assert await read_all(files, "/var/www/target") == b"kept"  # the links went, not targets
    assert await names(files, "/var/www") == ["target"]
    await files.remove(f"{APP}/tree")
    assert await names(files, APP) == []

    await refused(files.remove(f"{APP}/missing"), FileProblem.NOT_FOUND)
    for root in ROOTS:
        await refused(files.remove(root), FileProblem.INVALID)
    assert await names(files, HOME) == ["app"]


async def test_rename_moves_within_and_across_mounts(
    driver: Driver, pod: PodSpec, files: PodFiles
) -> None:
    await files.write(f"{APP}/one.txt", chunks_of(b"one"))
    await files.rename(f"{APP}/one.txt", f"{APP}/sub/two.txt")  # parents are made
    assert await names(files, APP) == ["sub"]
    assert await read_all(files, f"{APP}/sub/two.txt") == b"one"

    await files.write(f"{APP}/other.txt", chunks_of(b"other"))
    await refused(files.rename(f"{APP}/other.txt", f"{APP}/sub/two.txt"), FileProblem.EXISTS)
    await refused(files.rename(f"{APP}/sub", f"{APP}/other.txt"), FileProblem.EXISTS)
    await refused(files.rename(f"{APP}/missing", f"{APP}/new"), FileProblem.NOT_FOUND)
    await refused(files.rename(f"{APP}/sub", f"{APP}/sub/inner"), FileProblem.INVALID)
    await refused(files.rename(f"{APP}/sub", f"{APP}/sub"), FileProblem.INVALID)
    await refused(files.rename("/tmp", f"{APP}/tmp"), FileProblem.INVALID)
    assert await read_all(files, f"{APP}/other.txt") == b"other"

    # /tmp and /home/instapod are different bind mounts of the disk: moved by copying
    await files.write("/tmp/tree/a/file.sh", chunks_of(b"#!/bin/sh\n"))
    await files.write("/tmp/tree/b.txt", chunks_of(b"b"))
    await shell(driver, pod, "cd /tmp/tree && chmod 755 a/file.sh && chmod 700 a && "
                "ln -s a/file.sh link && ln -s /nowhere dangling")  # fmt: skip
    before = await files.manifest("/tmp/tree", [])
    await files.rename("/tmp/tree", f"{APP}/tree")
    assert await files.listing("/tmp/tree") is None
    assert await names(files, "/tmp") == []
    assert await files.manifest(f"{APP}/tree", []) == before
    moved = await modes(files, f"{APP}/tree")
    assert stat.S_ISLNK(moved["link"])
    assert stat.S_ISLNK(moved["dangling"])
    assert moved["a"] == stat.S_IFDIR | 0o700
    links = await shell(driver, pod, f"readlink {APP}/tree/link {APP}/tree/dangling")
    assert links.stdout.split() == ["a/file.sh", "/nowhere"]
    assert (await modes(files, f"{APP}/tree/a"))["file.sh"] == stat.S_IFREG | 0o755

    await files.rename(f"{APP}/sub/two.txt", "/var/www/two.txt")  # a file across mounts
    assert await read_all(files, "/var/www/two.txt") == b"one"
    assert await names(files, f"{APP}/sub") == []


async def test_copy_copies_files_and_trees_keeping_links(
    driver: Driver, pod: PodSpec, files: PodFiles
) -> None:
    await files.write(f"{APP}/src/run.sh", chunks_of(b"#!/bin/sh\necho hi\n"))
    await files.write(f"{APP}/src/deep/er/data.txt", chunks_of(b"data"))
    await shell(driver, pod, f"cd {APP}/src && chmod 755 run.sh && ln -s run.sh link && "
                "ln -s /etc/passwd outward && ln -s deep dirlink")  # fmt: skip

    await files.copy(f"{APP}/src/run.sh", f"{APP}/copy.sh")
    assert await read_all(files, f"{APP}/copy.sh") == b"#!/bin/sh\necho hi\n"
    assert (await modes(files, APP))["copy.sh"] == stat.S_IFREG | 0o755

    for target in (f"{APP}/copy", "/var/www/copy"):  # the same mount, and another one
        await files.copy(f"{APP}/src", target)
        assert await files.manifest(target, []) == await files.manifest(f"{APP}/src", [])
        copied = await modes(files, target)
        assert all(stat.S_ISLNK(copied[name]) for name in ("link", "outward", "dirlink"))
        links = await shell(driver, pod, f"cd {target} && readlink link outward dirlink")
        assert links.stdout.split() == ["run.sh", "/etc/passwd", "deep"]
    assert await names(files, f"{APP}/src") == ["deep", "dirlink", "link", "outward", "run.sh"]

    await refused(files.copy(f"{APP}/src", f"{APP}/copy"), FileProblem.EXISTS)
    await refused(files.copy(f"{APP}/src/run.sh", f"{APP}/copy.sh"), FileProblem.EXISTS)
    await refused(files.copy(f"{APP}/missing", f"{APP}/new"), FileProblem.NOT_FOUND)
    await refused(files.copy(f"{APP}/src", f"{APP}/src/again"), FileProblem.INVALID)
    assert await names(files, APP) == ["copy", "copy.sh", "src"]  # no half copy left


async def test_manifest_hashes_every_file_skipping_excluded_names_and_paths(
    driver: Driver, pod: PodSpec, files: PodFiles
) -> None:
    tree = {
        "index.js": b"console.log(1)\n",
        "run.sh": b"#!/bin/sh\n",
        "lib/util.js": b"exports.x = 1\n",
        "lib/skip.txt": b"skipped by its path",
        "lib/keep.txt": b"kept",
        "node_modules/dep/index.js": b"skipped by a name",
        "deep/node_modules/x.js": b"skipped by a name, deeper",
        "logs/app.log": b"skipped by a pattern",
        "empty": b"",
    }
    for relative, data in tree.items():
        await files.write(f"{APP}/{relative}", chunks_of(data))
    await shell(driver, pod, f"cd {APP} && chmod 755 run.sh && ln -s index.js link && "
                "ln -s /etc etc && mkfifo fifo")  # fmt: skip

    manifest = await files.manifest(APP, ["node_modules", "*.log", "lib/skip.txt"])
    kept = ["empty", "index.js", "lib/keep.txt", "lib/util.js", "run.sh"]
    assert sorted(entry.path for entry in manifest) == kept  # links and FIFOs are no files
    for entry in manifest:
        assert entry.size == len(tree[entry.path])
        assert entry.sha256 == hashlib.sha256(tree[entry.path]).hexdigest()
        assert entry.executable == (entry.path == "run.sh")

    everything = await files.manifest(APP, [])
    assert len(everything) == len(tree)
    assert [e.path for e in await files.manifest(f"{APP}/lib", ["*.txt"])] == ["util.js"]
    assert await files.manifest(f"{APP}/missing", []) == []
    # a leading "/" anchors a pattern to the top: /node_modules, not deep/node_modules
    anchored = [e.path for e in await files.manifest(APP, ["/node_modules", "/*.log", "lib"])]
    assert sorted(anchored) == ["deep/node_modules/x.js", "empty", "index.js", "logs/app.log",
                                "run.sh"]  # fmt: skip


@pytest.mark.parametrize("compress", [False, True], ids=["tar", "tar.gz"])
async def test_unpack_writes_files_and_directories_then_deletes(
    driver: Driver, pod: PodSpec, files: PodFiles, compress: bool
) -> None:
    await files.write("/var/www/site/old.html", chunks_of(b"old"))
    await files.write("/var/www/site/index.html", chunks_of(b"previous"))
    await files.write("/var/www/site/gone/x", chunks_of(b"x"))
    archive = tar(
        ("site", None),
        ("site/index.html", b"<h1>new</h1>"),
        ("./site/css/main.css", b"body {}"),  # parents the archive does not list are made
        ("site/empty", None),
        ("site/bin/run.sh", b"#!/bin/sh\n"),
        compress=compress,
    )
    delete = ["site/old.html", "site/gone", "site/never-existed", "missing/parent/x"]
    unpacked = await files.unpack("/var/www", content(archive, 1000), delete)
    assert (unpacked.files, unpacked.directories, unpacked.bytes) == (3, 2, 29)
    assert unpacked.deleted == 2  # what existed of the four

    assert await names(files, "/var/www/site") == ["bin", "css", "empty", "index.html"]
    assert await read_all(files, "/var/www/site/index.html") == b"<h1>new</h1>"
    assert await read_all(files, "/var/www/site/css/main.css") == b"body {}"
    assert await names(files, "/var/www/site/empty") == []
    site = await files.manifest("/var/www/site", [])
    assert {e.path: e.executable for e in site} == {
        "bin/run.sh": True, "css/main.css": False, "index.html": False,
    }  # fmt: skip
    assert await names(files, "/var/www") == ["site"]  # no staging folder left

    # an unpack into a root that does not exist yet makes it
    await files.unpack(f"{APP}/new/deep", chunks_of(tar(("a.txt", b"a"))), [])
    assert await read_all(files, f"{APP}/new/deep/a.txt") == b"a"
    served = await shell(driver, pod, "cat /var/www/site/index.html")
    assert served.stdout == "<h1>new</h1>"


ESCAPING_MEMBERS = ["../evil", "/abs-evil", "site/../../evil", "site/../../../../etc/evil", ".."]


@pytest.mark.parametrize("name", ESCAPING_MEMBERS)
async def test_unpack_refuses_a_member_outside_the_target_writing_nothing(
    host: Host, pod: PodSpec, files: PodFiles, name: str
) -> None:
    await files.write(f"{APP}/site/index.html", chunks_of(b"before"))
    before = disk_tree(host, pod)
    archive = tar(("site/index.html", b"after"), ("site/new.txt", b"new"), (name, b"evil"))
    await refused(files.unpack(f"{APP}/site", chunks_of(archive), []), FileProblem.INVALID)
    await refused(files.unpack(f"{APP}/site", chunks_of(tar(("ok", b"ok"))), [name]),
                  FileProblem.INVALID)  # fmt: skip
    assert disk_tree(host, pod) == before
    assert await read_all(files, f"{APP}/site/index.html") == b"before"


@pytest.mark.parametrize(
    "member",
    [
        link_member("site/link", "/etc/passwd"),
        link_member("site/link", "index.html"),
        link_member("site/hard", "site/index.html", tarfile.LNKTYPE),
        link_member("site/hard", "/etc/passwd", tarfile.LNKTYPE),
        link_member("site/fifo", "", tarfile.FIFOTYPE),
        link_member("site/dev", "", tarfile.CHRTYPE),
    ],
    ids=["symlink-out", "symlink-in", "hardlink-in", "hardlink-out", "fifo", "device"],
)
async def test_unpack_refuses_links_and_devices_writing_nothing(
    host: Host, pod: PodSpec, files: PodFiles, member: tarfile.TarInfo
) -> None:
    await files.write(f"{APP}/site/index.html", chunks_of(b"before"))
    before = disk_tree(host, pod)
    archive = tar(("site/index.html", b"after"), ("site/a.txt", b"a"), member)
    await refused(files.unpack(APP, chunks_of(archive), []), FileProblem.INVALID)
    assert disk_tree(host, pod) == before
    assert await read_all(files, f"{APP}/site/index.html") == b"before"


async def test_unpack_refuses_a_damaged_archive_writing_nothing(
    host: Host, pod: PodSpec, files: PodFiles
) -> None:
    await files.write(f"{APP}/keep.txt", chunks_of(b"keep"))
    before = disk_tree(host, pod)
    good = tar(("a.txt", os.urandom(50_000)), ("b.txt", b"b"), compress=True)
    plain = tar(("a.txt", os.urandom(50_000)), ("b.txt", b"b"))
    damaged = [
        b"",  # nothing at all
        b"this is not an archive" * 100,
        os.urandom(4096),
        good[: len(good) // 2],  # cut off
        good[:100] + bytes(200) + good[300:],  # corrupted inside
        plain[:1024],  # cut off in the middle of a member
    ]
    for archive in damaged:
        await refused(files.unpack(APP, chunks_of(archive), ["keep.txt"]), FileProblem.INVALID)
    assert disk_tree(host, pod) == before
    assert await files.unpack(APP, chunks_of(good), []) is not None  # the pool still works


async def test_two_unpacks_into_one_directory_both_land(files: PodFiles) -> None:
    first, second = os.urandom(300_000), os.urandom(300_000)
    first_streaming, second_ready = asyncio.Event(), asyncio.Event()

    async def first_archive() -> AsyncIterator[bytes]:
        archive = tar(("first.bin", first))
        yield archive[:50_000]
        first_streaming.set()
        await asyncio.wait_for(second_ready.wait(), 30)  # the second one began meanwhile
        yield archive[50_000:]

    async def second_archive() -> AsyncIterator[bytes]:
        second_ready.set()  # its agent is ready: it has made its own staging folder
        yield tar(("second.bin", second))

    unpacking = asyncio.create_task(files.unpack("/var/www", first_archive(), []))
    await asyncio.wait_for(first_streaming.wait(), 30)
    await files.unpack("/var/www", second_archive(), [])
    await unpacking
    assert await read_all(files, "/var/www/first.bin") == first
    assert await read_all(files, "/var/www/second.bin") == second


# -- ownership -------------------------------------------------------------------------------


async def test_what_the_api_writes_belongs_to_the_pod(
    driver: Driver, host: Host, pod: PodSpec, files: PodFiles
) -> None:
    await files.write(f"{APP}/made/by/write.txt", chunks_of(b"written"))
    await files.make_dir("/var/www/made/dir")
    await files.unpack("/var/www", chunks_of(tar(("site/page.html", b"unpacked"))), [])
    await files.copy(f"{APP}/made", "/tmp/copied")
    await files.write("/tmp/moved/m.txt", chunks_of(b"moved"))
    await files.rename("/tmp/moved", f"{APP}/moved")  # across mounts: by copy
    uid = host.host_uid(pod.id)
    made = [
        f"{APP}/made", f"{APP}/made/by", f"{APP}/made/by/write.txt", "/var/www/made",
        "/var/www/made/dir", "/var/www/site", "/var/www/site/page.html", "/tmp/copied",
        "/tmp/copied/by/write.txt", f"{APP}/moved", f"{APP}/moved/m.txt",
    ]  # fmt: skip
    for path in made:
        info = on_disk(host, pod, path).lstat()
        assert (info.st_uid, info.st_gid) == (uid, uid), path

    script = (
        f"cat {APP}/made/by/write.txt /var/www/site/page.html /tmp/copied/by/write.txt "
        f"{APP}/moved/m.txt && echo && echo ' append' >> {APP}/made/by/write.txt && "
        "stat -c %U " + " ".join(made)
    )
    seen = (await shell(driver, pod, script)).stdout.splitlines()
    assert seen == ["writtenunpackedwrittenmoved"] + ["instapod"] * len(made)
    assert await read_all(files, f"{APP}/made/by/write.txt") == b"written append\n"


# -- a write or a read that goes wrong -------------------------------------------------------


class Interrupted(Exception):
    pass


async def failing(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part
    raise Interrupted("the upload broke off")


async def test_a_write_that_breaks_off_leaves_the_old_file(
    driver: Driver, pod: PodSpec, files: PodFiles
) -> None:
    path = f"{APP}/page.html"
    await files.write(path, chunks_of(b"old content"))
    with pytest.raises(Interrupted):
        await files.write(path, failing(b"new ", b"content" * MIB))
    assert await read_all(files, path) == b"old content"
    assert await names(files, APP) == ["page.html"]
    with pytest.raises(Interrupted):
        await files.write(f"{APP}/new/file.txt", failing(b"new"))
    assert await names(files, f"{APP}/new") == []  # its directory was made, nothing else
    listing = await shell(driver, pod, f"ls -lA {APP} {APP}/new")
    lines = listing.stdout.splitlines()
    assert [line.split()[-1] for line in lines if line.startswith(("-", "d", "l"))] == [
        "new", "page.html"
    ]  # fmt: skip


async def test_a_cancelled_write_leaves_the_old_file(files: PodFiles) -> None:
    path = f"{APP}/page.html"
    await files.write(path, chunks_of(b"old content"))
    started = asyncio.Event()

    async def slow() -> AsyncIterator[bytes]:
        yield b"new"
        started.set()
        await asyncio.sleep(60)
        yield b"never"

    writing = asyncio.create_task(files.write(path, slow()))
    await asyncio.wait_for(started.wait(), 10)
    writing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await writing
    assert await read_all(files, path) == b"old content"
    assert await names(files, APP) == ["page.html"]


async def test_a_write_beyond_the_disk_fails_and_gives_the_space_back(driver: Driver) -> None:
    spec = pod_spec(disk_gb=0.1)
    await driver.create(spec)
    files = driver.files(spec)
    await files.write(f"{APP}/page.html", chunks_of(b"old content"))
    used = (await driver.usage(spec.id)).disk_bytes
    block = b"x" * MIB

    async def huge() -> AsyncIterator[bytes]:
        for _ in range(200):  # twice the disk
            yield block

    for path in (f"{APP}/page.html", f"{APP}/big.bin"):
        await refused(files.write(path, huge()), FileProblem.NO_SPACE)
        await eventually(lambda: driver.usage(spec.id), lambda u: u.disk_bytes == used)
    assert await read_all(files, f"{APP}/page.html") == b"old content"
    assert await names(files, APP) == ["page.html"]
    assert await files.write(f"{APP}/small.txt", chunks_of(b"fits")) == 4  # still writable


async def test_a_read_given_up_midway_leaves_the_pool_usable(
    host: Host, pod: PodSpec, files: PodFiles
) -> None:
    data = os.urandom(8 * MIB)
    await files.write(f"{APP}/big.bin", content(data, MIB))
    for _ in range(6):  # more than the pool's agents
        async with files.read(f"{APP}/big.bin") as download:
            async for chunk in download.chunks:
                assert chunk
                break
    assert await read_all(files, f"{APP}/big.bin") == data
    assert await names(files, APP) == ["big.bin"]

    async def agents() -> list[int]:
        return agents_of(host.host_uid(pod.id))

    await eventually(agents, lambda found: len(found) <= 4)  # the given-up ones were ended


# -- attacks from inside the pod -------------------------------------------------------------


@dataclass
class Attack:
    """A pod that planted outward links and a file of its own, and what lies past its roots."""

    driver: Driver
    host: Host
    spec: PodSpec
    files: PodFiles
    passwd: bytes  # the pod's /etc/passwd, which no operation may hand out


@pytest.fixture
async def attack(
    driver: Driver, host: Host, pod: PodSpec, files: PodFiles
) -> AsyncIterator[Attack]:
    await files.write(f"{APP}/own.txt", chunks_of(b"own"))
    await shell(driver, pod, PLANT)
    seen = await shell(driver, pod, SEEN)  # the targets exist and the pod can read them
    passwd = (host.state_dir(pod.id) / "etc" / "passwd").read_bytes()
    assert passwd.decode() in seen.stdout
    before = outside(host, pod)
    yield Attack(driver, host, pod, files, passwd)
    assert outside(host, pod) == before
    again = await shell(driver, pod, SEEN)
    assert again.stdout == seen.stdout
    for data in disk_bytes(host, pod):
        assert passwd not in data
    assert not [name for name in disk_tree(host, pod) if "evil" in name]


async def attack_list(a: Attack) -> None:
    await all_refused(a.files.listing(path) for path in [*OUTWARD_DIRS, *THROUGH_DIRS])
    await refused(a.files.listing(f"{APP}/loop"))
    app = await modes(a.files, APP)
    assert all(stat.S_ISLNK(app[name]) for name in OUTWARD)  # shown as links, not followed


async def attack_read(a: Attack) -> None:
    paths = [*OUTWARD_FILES, *THROUGH_FILES, f"{APP}/fifo", f"{APP}/loop"]
    await all_refused(read_all(a.files, path) for path in paths)


async def attack_write(a: Attack) -> None:
    await all_refused(
        a.files.write(path, chunks_of(b"evil"))
        for path in [*(f"{d}/evil" for d in [*OUTWARD_DIRS, *THROUGH_DIRS]), *THROUGH_FILES]
    )
    # A link to a file past the roots is replaced, never written through.
    for name in ("hostname", "passwd", "python", "zero"):
        await a.files.write(f"{APP}/{name}", chunks_of(b"replaced"))
        assert stat.S_ISREG((await modes(a.files, APP))[name])
        assert await read_all(a.files, f"{APP}/{name}") == b"replaced"


async def attack_make_dir(a: Attack) -> None:
    paths = [*OUTWARD_DIRS, *(f"{directory}/evil" for directory in THROUGH_DIRS)]
    await all_refused(a.files.make_dir(path) for path in paths)


async def attack_remove(a: Attack) -> None:
    await all_refused(a.files.remove(path) for path in [*THROUGH_FILES, *THROUGH_DIRS])
    for name in OUTWARD:  # the links themselves go, their targets stay
        await a.files.remove(f"{APP}/{name}")
    assert await names(a.files, APP) == ["fifo", "loop", "own.txt"]


async def attack_rename(a: Attack) -> None:
    sources = [*THROUGH_FILES, *THROUGH_DIRS]
    targets = [f"{APP}/evil", "/tmp/evil"]  # on the same mount, and across to another
    await all_refused(a.files.rename(path, targets[i % 2]) for i, path in enumerate(sources))
    await all_refused(
        a.files.rename(f"{APP}/own.txt", f"{directory}/evil")
        for directory in [*OUTWARD_DIRS, *THROUGH_DIRS]
    )
    assert await read_all(a.files, f"{APP}/own.txt") == b"own"
    # moving a link moves the link (across mounts too), never what it points at
    await a.files.rename(f"{APP}/etc", "/tmp/etc-link")
    await a.files.rename(f"{APP}/passwd", f"{APP}/passwd-link")
    assert stat.S_ISLNK((await modes(a.files, "/tmp"))["etc-link"])
    assert stat.S_ISLNK((await modes(a.files, APP))["passwd-link"])


async def attack_copy(a: Attack) -> None:
    await all_refused(a.files.copy(path, f"{APP}/evil") for path in [*THROUGH_FILES, *THROUGH_DIRS])
    await all_refused(
        a.files.copy(f"{APP}/own.txt", f"{directory}/evil")
        for directory in [*OUTWARD_DIRS, *THROUGH_DIRS]
    )
    # a copy of a link is a link: nothing of /etc comes along
    await a.files.copy(f"{APP}/etc", "/tmp/etc-copy")
    await a.files.copy(APP, "/var/www/app-copy")
    assert stat.S_ISLNK((await modes(a.files, "/tmp"))["etc-copy"])
    copied = await a.files.manifest("/var/www/app-copy", [])
    assert [entry.path for entry in copied] == ["own.txt"]


async def attack_manifest(a: Attack) -> None:
    await all_refused(a.files.manifest(path, []) for path in [*OUTWARD_DIRS, *THROUGH_DIRS])
    for root in (APP, HOME):
        found = await a.files.manifest(root, [])
        assert [entry.path.rsplit("/", 1)[-1] for entry in found] == ["own.txt"]


async def attack_unpack(a: Attack) -> None:
    await all_refused(
        a.files.unpack(directory, chunks_of(tar(("evil", b"evil"))), [])
        for directory in [*OUTWARD_DIRS, *THROUGH_DIRS]
    )
    # (one at a time: each unpack into APP stages its files in APP)
    for name in ("etc/evil", "root/tmp/evil", "up/evil", "home/instapod/evil", "proc/evil"):
        await refused(a.files.unpack(APP, chunks_of(tar((name, b"evil"))), []))
    for name in ("etc/evil", "proc/tmp/evil"):
        await refused(a.files.unpack(APP, chunks_of(tar((name, None))), []))
    for path in ("etc/hostname", "up/passwd", "proc/etc"):
        await refused(a.files.unpack(APP, chunks_of(tar()), [path]))
    assert (await modes(a.files, APP)).keys() == {*OUTWARD, "fifo", "loop", "own.txt"}


ATTACKS: dict[str, Callable[[Attack], Awaitable[None]]] = {
    "list": attack_list,
    "read": attack_read,
    "write": attack_write,
    "make_dir": attack_make_dir,
    "remove": attack_remove,
    "rename": attack_rename,
    "copy": attack_copy,
    "manifest": attack_manifest,
    "unpack": attack_unpack,
}


@pytest.mark.parametrize("operation", list(ATTACKS))
async def test_links_out_of_the_roots_lead_nowhere(attack: Attack, operation: str) -> None:
    await ATTACKS[operation](attack)


async def test_an_unpack_refused_for_an_outward_link_changes_nothing(attack: Attack) -> None:
    archive = tar(("first.txt", b"first"), ("etc/evil", b"evil"))
    await refused(attack.files.unpack(APP, chunks_of(archive), []))
    assert "first.txt" not in await names(attack.files, APP)


async def test_hard_links_stay_on_the_pods_disk(
    driver: Driver, host: Host, pod: PodSpec, files: PodFiles
) -> None:
    seen = await shell(driver, pod, "cat /etc/hostname")
    assert seen.stdout.strip() == pod.name
    for target in ("/etc/hostname", "/etc/passwd", "/usr/bin/python3"):
        linked = await attempt(driver, pod, f"ln {target} {APP}/h")
        assert linked.exit_code != 0
        assert "Invalid cross-device link" in linked.stderr, linked
    assert await names(files, APP) == []

    await files.write(f"{APP}/a.txt", chunks_of(b"shared"))
    await shell(driver, pod, f"ln {APP}/a.txt {APP}/b.txt && mkdir {APP}/sub && "
                f"ln {APP}/a.txt {APP}/sub/c.txt")  # fmt: skip
    across = await attempt(driver, pod, f"ln {APP}/a.txt /tmp/c.txt")  # another bind mount
    assert "Invalid cross-device link" in across.stderr, across
    assert on_disk(host, pod, f"{APP}/a.txt").lstat().st_nlink == 3
    assert await read_all(files, f"{APP}/b.txt") == b"shared"
    assert await read_all(files, f"{APP}/sub/c.txt") == b"shared"
    await files.write(f"{APP}/b.txt", chunks_of(b"replaced"))  # a new file under that name
    assert await read_all(files, f"{APP}/b.txt") == b"replaced"
    assert await read_all(files, f"{APP}/a.txt") == b"shared"
    assert await read_all(files, f"{APP}/sub/c.txt") == b"shared"
    assert [e.path for e in await files.manifest(APP, [])] == ["a.txt", "b.txt", "sub/c.txt"]


SWAP = (
    f"cd {APP} && timeout 2 sh -c 'while true; do rm -rf d; mkdir d; rm -rf d; ln -s /etc d; done'"
)


async def test_a_link_swapped_in_a_race_never_leads_out(attack: Attack) -> None:
    """While the pod keeps turning `d` from a directory into a link to /etc and back, every
    operation under `d` either is refused or works on the directory: never on /etc."""
    files, passwd = attack.files, attack.passwd
    d = f"{APP}/d"
    swapping = asyncio.create_task(
        attack.driver.exec(attack.spec, ["/bin/sh", "-c", SWAP], timeout=30)
    )
    outcomes: Counter[str] = Counter()

    def ours(name: str) -> bool:
        """What the operations below put in `d`, or their names for work in progress."""
        return name in ("x", "sub") or ".instapods-" in name

    def seen(entry: FileEntry) -> bool:
        """What a listing of `d` may show: ours, or the pod's own link `d/etc` (which `ln -s`
        makes when `d` is still a directory), shown as a link."""
        return ours(entry.name) or (entry.name == "etc" and stat.S_ISLNK(entry.mode))

    async def write() -> str:
        assert await files.write(f"{d}/x", chunks_of(b"ours")) == 4
        return "worked"

    async def read(name: str) -> str:
        data = await read_all(files, f"{d}/{name}")
        assert (name, data) == ("x", b"ours")  # nothing of /etc
        return "worked"

    async def listing() -> str:
        found = await files.listing(d)
        assert found is None or all(seen(entry) for entry in found.entries), found
        return "worked"

    async def manifest() -> str:
        found = await files.manifest(d, [])
        assert all(ours(e.path) and e.size == 4 for e in found), found
        return "worked"

    async def unpack() -> str:
        await files.unpack(d, chunks_of(tar(("x", b"ours"))), [])
        return "worked"

    async def make_dir() -> str:
        await files.make_dir(f"{d}/sub")
        return "worked"

    async def never(work: Awaitable[None]) -> str:
        await work  # /etc's files never show in `d`, so this can only be refused
        raise AssertionError("an operation on a file of /etc went through")

    def operations(step: int) -> list[Callable[[], Awaitable[str]]]:
        return [
            write, lambda: read("x"), lambda: read("passwd"), lambda: read("hostname"),
            listing, manifest, unpack, make_dir,
            lambda: never(files.copy(f"{d}/passwd", f"/tmp/copy-{step}")),
            lambda: never(files.rename(f"{d}/hostname", f"/tmp/moved-{step}")),
            lambda: never(files.remove(f"{d}/hostname")),
        ]  # fmt: skip

    async def racer(first: int) -> None:
        step = first
        while not swapping.done():
            operation = operations(step)[step % 11]
            try:
                outcomes[await operation()] += 1
            except FileError as error:
                outcomes[error.problem] += 1
            step += 1

    try:
        await asyncio.gather(*(racer(first) for first in range(4)))
    finally:
        swapped = await swapping
    assert swapped.duration_ms > 1000, swapped
    assert outcomes.total() > 10, outcomes
    assert outcomes[FileProblem.INVALID] > 0, outcomes  # the link was there at times...
    assert outcomes["worked"] > 0, outcomes  # ...and the directory at others
    assert await names(files, "/tmp") == []
    assert passwd not in b"".join(disk_bytes(attack.host, attack.spec))


# -- hostile paths ---------------------------------------------------------------------------

# Names that look like something else: dots, the roots' own names, lookalikes of "..", names
# too long, NUL, a lone surrogate (no UTF-8).
TRICKY_NAMES = [
    "", ".", "..", "...", ". .", "home", "instapod", "app", "var", "www", "tmp", "etc", "tmpx",
    "instapod..", "\\", "%2e%2e", "\u2025", "\uff0e\uff0e", " ", "\n", "x" * 255, "x" * 256,
    "é" * 128, "\x00", "\udc80",
]  # fmt: skip
SEGMENTS = st.one_of(st.sampled_from(TRICKY_NAMES), st.text(max_size=8))
HOSTILE = st.one_of(
    st.text(),
    st.text(alphabet="/.\x00ab\\~\udc80", max_size=30),
    st.lists(SEGMENTS, max_size=8).map("/".join),
    st.tuples(
        st.sampled_from([*ROOTS, "/", "//", "", "/home", "/var", "./tmp", "tmp"]),
        st.lists(SEGMENTS, max_size=6),
        st.sampled_from(["/", "//", "/./", "/../"]),
        st.sampled_from(["", "/", "//", "/.", "/.."]),
    ).map(lambda t: t[0] + t[2] + t[2].join(t[1]) + t[3]),
)


def inside_roots(path: str) -> bool:
    return any(path == root or path.startswith(root + "/") for root in ROOTS)


@given(HOSTILE)
@example("/home/instapod/../../etc/passwd")
@example("/tmp/..")
@example("/tmpfoo")
@example("/home/instapodx/a")
@example("//tmp//a//")
@example("/var/www/./x")
@example("/tmp/\x00")
@example("/tmp/\udc80")
@example("/Tmp/a")
@example("/tmp/" + "x" * 256)
@example("/tmp" + "/x" * 2047)
def test_pod_path_never_leaves_the_roots(value: str) -> None:
    try:
        normal = pod_path(value)
    except ValueError:
        return
    assert inside_roots(normal)
    names = normal.split("/")[1:]
    assert all(names), normal
    assert "." not in names
    assert ".." not in names
    assert "\x00" not in normal
    assert "//" not in normal
    assert not normal.endswith("/")
    assert len(normal.encode()) <= MAX_PATH_BYTES
    assert all(len(name.encode()) <= MAX_NAME_BYTES for name in names)
    assert os.path.normpath(normal) == normal
    assert pod_path(normal) == normal
    assert normal == "/" + "/".join(part for part in value.split("/") if part)


@given(st.one_of(SEGMENTS, st.text()))
def test_file_name_takes_plain_names_only(value: str) -> None:
    try:
        name = file_name(value)
    except ValueError:
        return
    assert name == value
    assert name not in ("", ".", "..")
    assert "/" not in name
    assert "\x00" not in name
    assert len(name.encode()) <= MAX_NAME_BYTES
    assert pod_path(f"/tmp/{name}") == f"/tmp/{name}"


@pytest.mark.parametrize(
    ("value", "normal"),
    [("/tmp", "/tmp"), ("//tmp//a//", "/tmp/a"), ("/var/www/", "/var/www"),
     ("/home/instapod/app/a b/é", "/home/instapod/app/a b/é")],
)  # fmt: skip
def test_pod_path_folds_slashes(value: str, normal: str) -> None:
    assert pod_path(value) == normal


@pytest.mark.parametrize(
    "value",
    ["", "tmp/a", "/", "/etc/passwd", "/home", "/home/other", "/tmpx", "/var/wwwx/a",
     "/tmp/../etc", "/tmp/./a", "/home/instapod/..", "/tmp/a\x00b", "/tmp/\udc80",
     "/tmp/" + "x" * 256, "/tmp" + "/x" * 2047, "\\tmp\\a"],
)  # fmt: skip
def test_pod_path_refuses(value: str) -> None:
    with pytest.raises(ValueError, match="must"):
        pod_path(value)


# Names the real-pod test builds its paths from: the planted links, their targets' names, the
# roots' own names, and anything else (pod_path turns away what is not a path).
POD_SEGMENTS = st.one_of(
    st.sampled_from([*OUTWARD, "fifo", "loop", "own.txt", "app", "instapod", "www", "tmp",
                     "passwd", "ssl", "self", "root", "x" * 255, "é", " ", "\n", "*", "-"]),
    st.text(st.characters(exclude_characters="/\x00", exclude_categories=["Cs"]), max_size=6),
)  # fmt: skip
POD_PATHS = st.tuples(
    st.sampled_from([APP, f"{APP}/", f"/{APP}", HOME, "/var/www", "/tmp", "//tmp/"]),
    st.lists(POD_SEGMENTS, min_size=1, max_size=5),
    st.sampled_from(["/", "//"]),
    st.sampled_from(["", "/"]),
).map(lambda t: t[0] + t[2] + t[2].join(t[1]) + t[3])


async def exercise(files: PodFiles, path: str, passwd: bytes) -> None:
    """List, read and write `path` at once; only a result or a FileError may come back, and
    nothing from past the roots."""

    async def listing() -> None:
        found = await asyncio.wait_for(files.listing(path), 30)
        assert found is None or isinstance(found, Listing)
        if found is not None:
            assert not {"passwd", "hostname", "resolv.conf"} <= {e.name for e in found.entries}

    async def read() -> None:
        data = await asyncio.wait_for(read_all(files, path), 30)
        assert passwd not in data
        assert not data.startswith(b"\x7fELF")
        assert data in (b"own", b"hypothesis")

    async def write() -> None:
        assert await asyncio.wait_for(files.write(path, chunks_of(b"hypothesis")), 30) == 10

    for outcome in await asyncio.gather(listing(), read(), write(), return_exceptions=True):
        if outcome is not None and not isinstance(outcome, FileError):
            raise outcome


async def test_hostile_paths_stay_inside_a_real_pod(attack: Attack) -> None:
    loop = asyncio.get_running_loop()
    planted = {f"{APP}/{name}" for name in [*OUTWARD, "fifo", "loop"]}

    def run(work: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(work, loop).result(timeout=120)

    @settings(
        max_examples=50,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    @given(POD_PATHS)
    @example(f"{APP}/etc/passwd")
    @example(f"{APP}//proc//etc/hostname/")
    @example(f"{APP}/root/home/instapod/app/own.txt")
    @example(f"{APP}/up/ssl/x")
    @example(f"{APP}/zero")
    @example(f"{APP}/loop/x")
    def hostile(raw: str) -> None:
        try:
            path = pod_path(raw)
        except ValueError:
            reject()
        run(exercise(attack.files, path, attack.passwd))
        if path in planted:  # the write replaced a link: plant it again
            run(shell(attack.driver, attack.spec, PLANT))

    # Hypothesis runs in a thread of its own; the pod's operations run on this loop.
    await asyncio.to_thread(hostile)
    assert set(disk_tree(attack.host, attack.spec)) >= {"home/app/own.txt"}
    assert {name.split("/")[0] for name in disk_tree(attack.host, attack.spec)} == {
        "home", "tmp", "www"
    }  # fmt: skip


# -- the agents through a pod's life ---------------------------------------------------------


async def test_files_work_on_a_pod_never_started(driver: Driver, host: Host) -> None:
    spec = pod_spec(python_server())
    await driver.create(spec)
    files = driver.files(spec)
    await files.write(f"{APP}/index.html", chunks_of(b"hello"))
    assert await read_all(files, f"{APP}/index.html") == b"hello"
    assert (await driver.state(spec.id)).status == PodStatus.STOPPED
    assert not any(s.running for s in (await driver.state(spec.id)).services)
    assert agents_of(host.host_uid(spec.id))  # the agent runs without the pod's services

    state = await driver.start(spec)  # the app serves what was written while stopped
    assert state.status == PodStatus.RUNNING
    served = await shell(driver, spec, f"python3 -c {FETCH!r}")
    assert served.stdout.strip() == "b'hello'"


async def test_a_pod_out_of_processes_gets_an_error_not_a_hang(driver: Driver) -> None:
    spec = pod_spec(pids=1)  # the agent cannot start its interpreter's threads, or fork
    await driver.create(spec)
    with pytest.raises(FileError) as refused:
        await asyncio.wait_for(driver.files(spec).listing(APP), 30)
    assert refused.value.problem == FileProblem.BUSY
    assert "out of memory or processes" in refused.value.message


async def test_stop_ends_the_agents_and_files_work_after_it(driver: Driver, host: Host) -> None:
    spec = pod_spec(python_server())
    await driver.create(spec)
    await driver.start(spec)
    files = driver.files(spec)
    uid = host.host_uid(spec.id)
    await asyncio.gather(*(files.write(f"{APP}/f{i}", chunks_of(b"x" * i)) for i in range(6)))
    assert agents_of(uid)

    await driver.stop(spec.id)
    await none_left(uid)
    assert await names(files, APP) == [f"f{i}" for i in range(6)]  # the same object, again
    await files.write(f"{APP}/after-stop", chunks_of(b"after"))
    assert await read_all(driver.files(spec), f"{APP}/after-stop") == b"after"
    await driver.stop(spec.id)
    await none_left(uid)


async def test_stop_cuts_a_read_with_an_error_not_short_data(driver: Driver, host: Host) -> None:
    spec = pod_spec()
    await driver.create(spec)
    files = driver.files(spec)
    data = os.urandom(16 * MIB)
    await files.write(f"{APP}/big.bin", content(data, MIB))
    received = b""
    with pytest.raises(FileError) as caught:  # noqa: PT012 (the error comes at the end)
        async with files.read(f"{APP}/big.bin") as download:
            async for chunk in download.chunks:
                if not received:
                    await driver.stop(spec.id)
                received += chunk
    assert caught.value.problem == FileProblem.BUSY
    assert len(received) < len(data)
    await none_left(host.host_uid(spec.id))
    assert await read_all(files, f"{APP}/big.bin") == data


async def test_destroy_ends_the_agents_and_the_files(driver: Driver, host: Host) -> None:
    spec = pod_spec()
    await driver.create(spec)
    files = driver.files(spec)
    await files.write(f"{APP}/index.html", chunks_of(b"hello"))
    uid = host.host_uid(spec.id)
    assert agents_of(uid)

    await driver.destroy(spec.id)
    await none_left(uid)
    with pytest.raises(PodNotFound):
        driver.files(spec)
    with pytest.raises((FileError, PodNotFound)):
        await files.listing(APP)  # a handle taken before


async def test_concurrent_operations_share_at_most_four_agents(
    host: Host, pod: PodSpec, files: PodFiles
) -> None:
    async def slow(index: int) -> AsyncIterator[bytes]:
        for _ in range(5):
            await asyncio.sleep(0.02)
            yield bytes([65 + index]) * 1000

    async def listed() -> Listing | None:
        return await files.listing(APP)

    async with counting_agents(host.host_uid(pod.id)) as samples:
        results = await asyncio.gather(
            *(files.write(f"{APP}/f{i}", slow(i)) for i in range(10)),
            *(listed() for _ in range(10)),
        )
    assert results[:10] == [5000] * 10
    assert all(isinstance(listing, Listing) for listing in results[10:])
    assert max(samples) == 4, Counter(samples)
    for i in range(10):
        assert await read_all(files, f"{APP}/f{i}") == bytes([65 + i]) * 5000


async def test_a_refused_operation_keeps_its_agent(
    host: Host, pod: PodSpec, files: PodFiles
) -> None:
    uid = host.host_uid(pod.id)
    await files.write(f"{APP}/file", chunks_of(b"f"))
    before = agents_of(uid)
    assert len(before) == 1
    await refused(files.remove(f"{APP}/missing"), FileProblem.NOT_FOUND)
    await refused(read_all(files, f"{APP}/missing"), FileProblem.NOT_FOUND)
    await refused(files.listing(f"{APP}/file"), FileProblem.NOT_A_DIRECTORY)
    await files.listing(APP)

    async def agents() -> list[int]:
        return agents_of(uid)

    # (an agent that is ended goes in the background: wait until it went or clearly stays)
    after = await eventually(agents, lambda found: found == before or before[0] not in found)
    assert after == before  # the same agent answered them all
