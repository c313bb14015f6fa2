"""The `instapods` command run as a user runs it: a subprocess with its own HOME and config
folder, the API and token in its environment, and its stdout, stderr and exit code to check.

Every run starts in a new session (no controlling terminal), so `getpass` reads the password
from stdin as it does in a pipe, and nothing waits on the test's own stdin.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx

from tests.e2e.support import INSTAPODS, Platform, eventually

RUN_TIMEOUT = 300.0
APP = "/home/instapod/app"
OTHER_PASSWORD = "another password 123"  # of the second accounts tests register


@dataclass(frozen=True, repr=False)
class Result:
    args: tuple[str, ...]
    code: int
    out: bytes
    err: bytes

    @property
    def stdout(self) -> str:
        return self.out.decode()

    @property
    def stderr(self) -> str:
        return self.err.decode()

    def json(self) -> Any:
        return json.loads(self.stdout)

    def __repr__(self) -> str:  # what a failed assertion shows
        return (f"instapods {' '.join(self.args)} -> {self.code}\n--- stdout\n"
                f"{self.stdout[-3000:]}\n--- stderr\n{self.stderr[-3000:]}")  # fmt: skip


@dataclass(frozen=True)
class Cli:
    """How to run `instapods`: HOME and XDG_CONFIG_HOME under `home`, INSTAPODS_API and
    INSTAPODS_TOKEN when set (None leaves the variable out)."""

    home: Path
    api: str | None = None
    token: str | None = None
    extra_env: Mapping[str, str] = field(default_factory=dict)

    @property
    def config_dir(self) -> Path:
        return self.home / "cfg"

    @property
    def config_file(self) -> Path:
        return self.config_dir / "instapods" / "config.json"

    def but(self, **changes: Any) -> Cli:
        return replace(self, **changes)

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("INSTAPODS_") and not k.lower().endswith("_proxy")}  # fmt: skip
        self.home.mkdir(parents=True, exist_ok=True)
        env.update(HOME=str(self.home), XDG_CONFIG_HOME=str(self.config_dir), COLUMNS="200",
                   PYTHONUNBUFFERED="1", **self.extra_env)  # fmt: skip
        if self.api is not None:
            env["INSTAPODS_API"] = self.api
        if self.token is not None:
            env["INSTAPODS_TOKEN"] = self.token
        return env

    def __call__(self, *args: str | Path, input: str | bytes | None = None,
                 cwd: Path | None = None, timeout: float = RUN_TIMEOUT) -> Result:  # fmt: skip
        argv = tuple(str(a) for a in args)
        data = input.encode() if isinstance(input, str) else input
        done = subprocess.run(
            [str(INSTAPODS), *argv], input=data, capture_output=True, env=self.env(),
            cwd=cwd or self.home, timeout=timeout, start_new_session=True,
            stdin=subprocess.DEVNULL if data is None else None,
        )  # fmt: skip
        return Result(argv, done.returncode, done.stdout, done.stderr)

    @contextmanager
    def background(self, *args: str) -> Iterator[Running]:
        """`instapods ARGS` left running; killed (by its PID) if still alive at the end."""
        process = subprocess.Popen(
            [str(INSTAPODS), *args], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, env=self.env(), cwd=self.home, start_new_session=True,
        )  # fmt: skip
        running = Running(process)
        try:
            yield running
        finally:
            if process.poll() is None:
                process.kill()
            process.wait(timeout=10)
            running.join()


class Running:
    """A background `instapods`: its output collected line by line as it comes."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self.process = process
        self.lines: list[str] = []
        self.errors: list[bytes] = []
        assert process.stdout is not None
        assert process.stderr is not None
        self._readers = [
            threading.Thread(target=self._read_lines, args=(process.stdout,), daemon=True),
            threading.Thread(target=self._read_all, args=(process.stderr,), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    def _read_lines(self, stream: Any) -> None:
        for line in stream:
            self.lines.append(line.decode(errors="replace"))

    def _read_all(self, stream: Any) -> None:
        self.errors.append(stream.read())

    def join(self) -> None:
        for reader in self._readers:
            reader.join(timeout=10)

    @property
    def stderr(self) -> str:
        return b"".join(self.errors).decode(errors="replace")

    def wait_for_line(self, text: str, timeout: float) -> str:
        found = eventually(
            lambda: [line for line in self.lines if text in line] or self.process.poll(),
            lambda value: value is not None and value != [],
            timeout,
            f"a line with {text!r} from instapods",
        )
        assert isinstance(found, list), f"instapods exited with {found}: {self.stderr}"
        return found[0]


def write_tree(root: Path, files: Mapping[str, str | bytes]) -> Path:
    """Files under `root` (relative paths with "/"), folders made as needed."""
    for relative, content in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    return root


def error_line(result: Result) -> str:
    """The one line a failed command prints: on stderr, starting with "error:", nothing on
    stdout."""
    assert result.code != 0, result
    assert result.stdout == "", result
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result
    assert lines[0].startswith("error: "), result
    return lines[0]


def names(listing: Mapping[str, Any]) -> set[str]:
    """The names of a `files ls --json` listing."""
    return {entry["name"] for entry in listing["files"]}


def register(platform: Platform, email: str) -> str:
    """A second account on the platform (its own personal team); its token."""
    response = httpx.post(f"{platform.url}/api/auth/register", timeout=30, trust_env=False,
                          json={"email": email, "password": OTHER_PASSWORD})  # fmt: skip
    assert response.status_code == 201, response.text
    token: str = response.json()["token"]
    return token


def as_user(
    platform: Platform, token: str, method: str, path: str, **kwargs: Any
) -> httpx.Response:
    """A request to the API with another account's token."""
    return httpx.request(method, f"{platform.url}{path}", timeout=60, trust_env=False,
                         headers={"Authorization": f"Bearer {token}"}, **kwargs)  # fmt: skip
