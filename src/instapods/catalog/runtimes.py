"""What this host can really run: the versions of the programs pods are built from.

Pods see the host's `/usr` read-only, so only programs under `/usr` count (a Python in a
user's home or in pyenv is invisible to a pod).
"""

from __future__ import annotations

import asyncio
import glob
import logging
import os
import re
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from instapods.kit import procs

log = logging.getLogger("instapods.catalog")

POD_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin"
_VERSION = re.compile(r"(\d+(?:\.\d+)+)")


@dataclass(frozen=True)
class Probe:
    """How to find one runtime: candidate programs (names or globs) and the version flag."""

    name: str
    programs: Sequence[str]
    flag: str = "--version"


PROBES = (
    Probe("node", ["node", "nodejs"]),
    Probe("python", ["python3"]),
    Probe("php", ["/usr/sbin/php-fpm*"], "-v"),
    Probe("nginx", ["nginx"], "-v"),
    Probe("mariadb", ["mariadbd", "/usr/sbin/mariadbd"]),
    Probe("mysql", ["mysqld", "/usr/sbin/mysqld"]),
    Probe("postgresql", ["/usr/lib/postgresql/*/bin/postgres"]),
    Probe("redis", ["redis-server"]),
)


@dataclass
class Runtime:
    name: str
    versions: list[str] = field(default_factory=list)
    programs: dict[str, str] = field(default_factory=dict)  # version -> absolute path

    @property
    def default(self) -> str | None:
        return self.versions[0] if self.versions else None


def _candidates(programs: Iterable[str]) -> list[str]:
    found: list[str] = []
    for program in programs:
        if "*" in program:
            paths = sorted(glob.glob(program), reverse=True)
        else:
            which = shutil.which(program, path=POD_PATH)
            paths = [which] if which else []
        found.extend(p for p in paths if p not in found)
    return found


def parse_version(output: str) -> str | None:
    match = _VERSION.search(output)
    return match.group(1) if match else None


async def _version_of(path: str, flag: str) -> str | None:
    try:
        result = await procs.run([path, flag], timeout=10)
    except (OSError, TimeoutError):
        log.warning("could not run %s %s", path, flag)
        return None
    return parse_version(result.stdout + "\n" + result.stderr)


async def _probe(probe: Probe) -> Runtime:
    runtime = Runtime(probe.name)
    for path in _candidates(probe.programs):
        version = await _version_of(path, probe.flag)
        if version and version not in runtime.versions:
            runtime.versions.append(version)
            runtime.programs[version] = path
    runtime.versions.sort(key=_sort_key, reverse=True)
    return runtime


def _sort_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


async def detect(probes: Sequence[Probe] = PROBES) -> dict[str, Runtime]:
    """Probe every runtime in parallel; absent ones come back with no versions."""
    found = {r.name: r for r in await asyncio.gather(*(_probe(p) for p in probes))}
    _drop_aliases(found.get("mysql"), found.get("mariadb"))
    return found


def _drop_aliases(mysql: Runtime | None, mariadb: Runtime | None) -> None:
    """Debian's `mysqld` is a link to `mariadbd`: that is MariaDB, not a MySQL server."""
    if mysql is None or mariadb is None:
        return
    theirs = {os.path.realpath(path) for path in mariadb.programs.values()}
    for version, path in list(mysql.programs.items()):
        if os.path.realpath(path) in theirs:
            del mysql.programs[version]
            mysql.versions.remove(version)
