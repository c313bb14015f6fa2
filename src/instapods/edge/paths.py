"""Where the edge keeps its sockets, pid, configuration and log inside the data dir."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path

# sun_path holds 108 bytes with its terminating NUL on Linux.
MAX_SOCKET_PATH = 107
# Caddy reads `{…}` as placeholders and `|` as a socket's mode: never part of our paths.
_FORBIDDEN = set("{}|")


@dataclass(frozen=True)
class EdgePaths:
    data_dir: Path

    @classmethod
    def in_data_dir(cls, data_dir: Path) -> EdgePaths:
        paths = cls(data_dir.resolve())
        if _FORBIDDEN & set(str(paths.data_dir)):
            raise ValueError(f"the data dir may not contain any of {{ }} |: {paths.data_dir}")
        return paths

    @property
    def run_dir(self) -> Path:
        return self.data_dir / "run"

    @property
    def logs_dir(self) -> Path:
        return self.data_dir / "logs"

    @property
    def admin_socket(self) -> Path:
        return self.run_dir / "caddy-admin.sock"

    @property
    def api_socket(self) -> Path:
        return self.run_dir / "api.sock"

    @property
    def pid_file(self) -> Path:
        return self.run_dir / "caddy.pid"

    @property
    def config_file(self) -> Path:
        return self.run_dir / "caddy.json"

    @property
    def log_file(self) -> Path:
        return self.logs_dir / "caddy.log"

    @property
    def caddy_home(self) -> Path:
        """Caddy's own data and config directories (certificates, once TLS is on)."""
        return self.data_dir / "caddy"

    def make_dirs(self) -> None:
        """The run dir is private (0700): only this user may reach the sockets inside."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.run_dir.chmod(0o700)
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        self.caddy_home.mkdir(mode=0o700, exist_ok=True)


def check_socket_path(path: Path) -> None:
    if len(os.fsencode(path)) > MAX_SOCKET_PATH:
        raise ValueError(
            f"the socket path {path} is longer than {MAX_SOCKET_PATH} bytes; use a shorter data dir"
        )


def socket_answers(path: Path) -> bool:
    """Whether something accepts connections on the Unix socket at `path`."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(1.0)
        try:
            probe.connect(str(path))
        except OSError:
            return False
        return True


def listen_private(path: Path, backlog: int = 2048) -> socket.socket:
    """A listening Unix socket at `path` with mode 0600, replacing a stale one.

    Refuses when a live server already answers there: two servers must not share a data dir.
    """
    check_socket_path(path)
    if path.is_socket() or path.exists():
        if socket_answers(path):
            raise RuntimeError(f"another server is already listening on {path}")
        path.unlink()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(str(path))
        path.chmod(0o600)  # before listen(): nobody can connect until then
        sock.listen(backlog)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock
