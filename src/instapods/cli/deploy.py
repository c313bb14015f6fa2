"""`deploy` and `files sync`: a project folder made the pod's app, sending only what changed.

The folder is walked (default excludes, `--exclude`, `.instapodsignore`), each file hashed, and
compared with the pod's manifest (`GET /files/manifest`, the same excludes); what is new or
changed travels in one tar.gz (`POST /files/unpack`, which also deletes what the folder no
longer has), so a one-file change sends one file.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import stat
import tarfile
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import typer

from instapods.cli.client import EXIT_CONNECTION, EXIT_USAGE, CliError, client
from instapods.cli.commands import api, reload, wait_running
from instapods.cli.context import note, out, progress, show

APP = "/home/instapod/app"
DEFAULT_EXCLUDES = (
    "node_modules", "vendor", ".git", ".env", "__pycache__", ".DS_Store", ".venv", "venv",
)  # fmt: skip
IGNORE_FILE = ".instapodsignore"
ANSWER_TIMEOUT = 60.0
# The preset a folder gets: dependency files first, then what the code is written in.
DETECTION = (
    ("php", ("composer.json", "artisan")),
    ("nodejs", ("package.json", "tsconfig.json", "next.config.js")),
    ("python", ("requirements.txt", "pyproject.toml", "app.py")),
    ("php", ("*.php",)),
    ("static", ("index.html", "*.html")),
)


@dataclass(frozen=True)
class LocalFile:
    path: str  # relative, "/"-separated
    full: Path
    size: int
    sha256: str
    executable: bool


@dataclass(frozen=True)
class Plan:
    """What a sync sends and removes."""

    upload: list[LocalFile]
    delete: list[str]
    unchanged: int

    @property
    def bytes(self) -> int:
        return sum(f.size for f in self.upload)


def detect_preset(folder: Path) -> str | None:
    """The preset of the API's detection table that the folder's top level matches."""
    names = [entry.name for entry in os.scandir(folder) if entry.is_file()]
    for preset, patterns in DETECTION:
        if any(fnmatch.filter(names, pattern) for pattern in patterns):
            return preset
    return None


def excludes_of(folder: Path, extra: Sequence[str]) -> list[str]:
    """Default excludes, then --exclude (comma-separated too), then .instapodsignore lines."""
    patterns = list(DEFAULT_EXCLUDES)
    for item in extra:
        patterns += [p.strip() for p in item.split(",") if p.strip()]
    ignore = folder / IGNORE_FILE
    if ignore.is_file():
        for line in ignore.read_text(errors="replace").splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                patterns.append(line.rstrip("/") or line)  # "/build/" is /build, anchored
    return patterns


def excluded(relative: str, patterns: Sequence[str]) -> bool:
    """A pattern without "/" matches a name at any depth; one with "/" the relative path; a
    leading "/" anchors it to the folder's top. The pod's manifest follows the same rule, in
    files_agent.excluded (tests/cli/test_patterns.py keeps the two the same)."""
    name = relative.rsplit("/", 1)[-1]
    for pattern in patterns:
        if "/" in pattern:  # name by name, so "*" never crosses a "/"
            steps, names = pattern.lstrip("/").split("/"), relative.split("/")
            hit = len(steps) == len(names) and all(map(fnmatch.fnmatchcase, names, steps))
        else:
            hit = fnmatch.fnmatchcase(name, pattern)
        if hit:
            return True
    return False


def local_files(folder: Path, patterns: Sequence[str]) -> list[LocalFile]:
    found: list[LocalFile] = []
    for directory, dirs, files in os.walk(folder):
        base = Path(directory)
        prefix = base.relative_to(folder).as_posix()
        prefix = "" if prefix == "." else prefix + "/"
        dirs[:] = sorted(d for d in dirs if not excluded(prefix + d, patterns)
                         and not (base / d).is_symlink())  # fmt: skip
        for name in sorted(files):
            relative = prefix + name
            full = base / name
            info = full.lstat()
            if excluded(relative, patterns) or not stat.S_ISREG(info.st_mode):
                continue
            digest = hashlib.sha256()
            with open(full, "rb") as handle:
                while chunk := handle.read(1 << 20):
                    digest.update(chunk)
            found.append(LocalFile(relative, full, info.st_size, digest.hexdigest(),
                                   bool(info.st_mode & 0o100)))  # fmt: skip
    return found


def plan_sync(name: str, folder: Path, remote: str, patterns: Sequence[str],
              delete: bool = True) -> Plan:  # fmt: skip
    with progress("Comparing files"):
        mine = local_files(folder, patterns)
        theirs = api().get(f"/api/pods/{name}/files/manifest",
                           params=[("path", remote), *(("exclude", p) for p in patterns)],
                           timeout=600)["files"]  # fmt: skip
    known = {f["path"]: f for f in theirs}
    upload = [
        f for f in mine
        if f.path not in known or known[f.path]["sha256"] != f.sha256
        or known[f.path]["executable"] != f.executable
    ]  # fmt: skip
    local = {f.path for f in mine}
    if not delete:
        return Plan(upload=upload, delete=[], unchanged=len(mine) - len(upload))
    # A file that takes the place of a folder: the folder goes whole, its files with it.
    remote_dirs = {k[:i] for k in known for i, c in enumerate(k) if c == "/"}
    replaced = local & remote_dirs
    gone = [p for p in known if p not in local and not _below(p, replaced)]
    return Plan(upload=upload, delete=sorted([*gone, *replaced]),
                unchanged=len(mine) - len(upload))  # fmt: skip


def _below(path: str, folders: set[str]) -> bool:
    return any(path[:i] in folders for i, c in enumerate(path) if c == "/")


def send(name: str, remote: str, plan: Plan) -> dict[str, Any]:
    """One POST /files/unpack with the changed files and the deletions."""
    with tempfile.TemporaryFile() as archive:
        with tarfile.open(fileobj=archive, mode="w:gz", compresslevel=1) as tar:
            for item in plan.upload:
                info = tarfile.TarInfo(item.path)
                info.size = item.size
                info.mode = 0o755 if item.executable else 0o644
                info.mtime = int(time.time())
                with open(item.full, "rb") as handle:
                    tar.addfile(info, handle)
        mb = plan.bytes / 1e6
        with progress(f"Uploading {count_files(len(plan.upload))} ({mb:.1f} MB)"):
            for attempt in range(3):  # an unpack can be sent again: same files, same deletions
                archive.seek(0)
                try:
                    result: dict[str, Any] = api().post(
                        f"/api/pods/{name}/files/unpack",
                        data={"path": remote, "delete": plan.delete},
                        files={"archive": ("files.tar.gz", archive, "application/gzip")},
                        timeout=1800,
                    )
                    return result
                except CliError as error:
                    if error.code != EXIT_CONNECTION or attempt == 2:
                        raise
                    time.sleep(0.3)
    raise AssertionError("unreachable")


def count_files(count: int) -> str:
    return f"{count} file" + ("" if count == 1 else "s")


def sync(name: str, folder: Path, remote: str, patterns: Sequence[str],
         delete: bool = True) -> dict[str, Any]:  # fmt: skip
    plan = plan_sync(name, folder, remote, patterns, delete)
    if not plan.upload and not plan.delete:
        note(f"Files up to date ({plan.unchanged} unchanged)")
        return {"uploaded": [], "deleted": [], "unchanged": plan.unchanged}
    send(name, remote, plan)
    note(f"Uploaded {count_files(len(plan.upload))}, deleted {len(plan.delete)}, "
         f"{plan.unchanged} unchanged")  # fmt: skip
    return {"uploaded": [f.path for f in plan.upload], "deleted": plan.delete,
            "unchanged": plan.unchanged}  # fmt: skip


def folder_of(local: Path) -> Path:
    folder = local.expanduser().resolve()
    if not folder.is_dir():
        raise CliError(f"{local} is not a folder", EXIT_USAGE)
    return folder


def wait_answering(url: str, timeout: float = ANSWER_TIMEOUT) -> int:
    """Poll the pod's URL until the app (not the edge's 502/503 page) answers; its status."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    target, headers = url, {}
    if host == "localhost" or host.endswith(".localhost"):  # resolved by browsers, not by us
        netloc = "127.0.0.1" + (f":{parts.port}" if parts.port else "")
        target = urlunsplit((parts.scheme, netloc, parts.path or "/", "", ""))
        headers = {"Host": parts.netloc}
    deadline = time.monotonic() + timeout
    last = "no answer"
    with progress("Waiting for the app to answer"), client(target, timeout=5) as http:
        while time.monotonic() < deadline:
            try:
                response = http.get("", headers=headers)
                if response.status_code not in (502, 503, 504):
                    return response.status_code
                last = f"{response.status_code}"
            except httpx.HTTPError as error:
                last = str(error) or type(error).__name__
            time.sleep(0.2)
    raise CliError(f"the app did not answer at {url} within {timeout:.0f} s (last: {last}); "
                   f"see `instapods logs {urlsplit(url).hostname}`")  # fmt: skip


def deploy(
    name: Annotated[str, typer.Argument(help="The pod (created when missing)", metavar="NAME")],
    preset: Annotated[
        str | None, typer.Option(help="static, php, nodejs or python [default: detected]")
    ] = None,
    plan: Annotated[str | None, typer.Option(help="Plan of a new pod")] = None,
    local: Annotated[Path, typer.Option("--local", help="The project folder")] = Path("."),
    no_reload: Annotated[bool, typer.Option("--no-reload", help="Only sync the files")] = False,
    exclude: Annotated[
        list[str] | None, typer.Option("--exclude", help="More patterns to leave out")
    ] = None,
) -> None:
    """Deploy a folder: create the pod if missing, upload what changed, remove what is gone,
    install dependencies, wait until the app answers, and print its URL.

    Leaves out node_modules, vendor, .git, .env, __pycache__, .DS_Store, .venv, venv and what
    .instapodsignore lists.

    Example: instapods deploy hello

    Example: instapods deploy shop --local ./site --preset static --exclude "*.psd"
    """
    folder = folder_of(local)
    patterns = excludes_of(folder, exclude or [])
    pod = _existing(name)
    if pod is None:
        chosen = preset or detect_preset(folder)
        if chosen is None:
            raise CliError(
                f"cannot tell what {folder} is (no index.html, package.json, requirements.txt, "
                "composer.json…); pass --preset",
                EXIT_USAGE,
            )
        body: dict[str, Any] = {"name": name, "preset": chosen}
        if plan:
            body["plan_slug"] = plan
        with progress(f"Creating pod {name} ({chosen})"):
            api().post("/api/pods", json=body)
        pod = wait_running(name)
        note(f"Created pod {name} ({chosen})")
    else:
        note(f"Pod exists ({pod['preset']} · {pod['status']})")
        if pod["status"] == "creating":
            pod = wait_running(name)
        if preset and preset != pod["preset"]:
            note(f"(it keeps its preset {pod['preset']}; --preset applies to new pods)")
    synced = sync(name, folder, APP, patterns)
    result: dict[str, Any] = {"pod": name, "url": pod["domain"], **synced}
    if not no_reload:
        reloaded = reload(name)
        result["reload"] = reloaded
        result["status"] = wait_answering(pod["domain"])
    show(result, lambda: out.print(f"Live at {pod['domain']}"))


def _existing(name: str) -> dict[str, Any] | None:
    try:
        pod: dict[str, Any] = api().get(f"/api/pods/{name}")
    except CliError as error:
        if error.status == 404:
            return None
        raise
    return pod
