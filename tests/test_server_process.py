"""The real `instapods` command, run as a process: start, serve, stop on SIGTERM, CLI basics."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from alembic.script import ScriptDirectory

from instapods import __version__, db
from instapods.models import Base
from tests.fixtures import postgres

INSTAPODS = Path(sys.executable).parent / "instapods"
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    port: int
    stdout: Path
    stderr: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return f"stdout:\n{self.stdout.read_text()}\nstderr:\n{self.stderr.read_text()}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as any server would
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INSTAPODS_")}
    env["PYTHONUNBUFFERED"] = "1"
    env["INSTAPODS_PODS_DIR"] = os.environ["INSTAPODS_PODS_DIR"]  # pytest's tmp is private
    env.update(extra)
    return env


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(INSTAPODS), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env or clean_env(),
        check=False,
    )


@contextlib.contextmanager
def launched(tmp_path: Path, args: list[str], env: dict[str, str], port: int) -> Iterator[Server]:
    """Start `instapods server …`; always kill it by its PID at the end."""
    stdout, stderr = tmp_path / "stdout.log", tmp_path / "stderr.log"
    with stdout.open("wb") as out, stderr.open("wb") as err:
        process = subprocess.Popen(
            [str(INSTAPODS), "server", *args], stdout=out, stderr=err, env=env
        )
    try:
        yield Server(process, port, stdout, stderr)
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=STOP_TIMEOUT)


def wait_healthy(server: Server) -> dict[str, str]:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            pytest.fail(f"server exited with {server.process.returncode}\n{server.output()}")
        try:
            response = httpx.get(f"{server.url}/api/health", timeout=2)
        except httpx.TransportError:
            time.sleep(0.05)
            continue
        assert response.status_code == 200, response.text
        body: dict[str, str] = response.json()
        return body
    pytest.fail(f"server did not answer within {START_TIMEOUT}s\n{server.output()}")


def stop_and_check(server: Server) -> None:
    """SIGTERM stops it cleanly (exit 0) within a few seconds and frees its port."""
    started = time.monotonic()
    os.kill(server.process.pid, signal.SIGTERM)
    try:
        code = server.process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        pytest.fail(f"server ignored SIGTERM for {STOP_TIMEOUT}s\n{server.output()}")
    assert code == 0, server.output()
    assert time.monotonic() - started < 5, "stopping took too long"
    assert port_is_free(server.port)
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{server.url}/api/health", timeout=2)
    assert "Traceback" not in server.stderr.read_text(), server.output()


def assert_announced(server: Server, data_dir: Path) -> None:
    first_line = server.stdout.read_text().splitlines()[0]
    assert f"http://127.0.0.1:{server.port}/api" in first_line
    assert f"pods at http://<pod>.localhost:{server.port}" in first_line
    assert __version__ in first_line
    assert str(data_dir.resolve()) in first_line


def test_server_with_flags_serves_and_stops_on_sigterm(tmp_path: Path) -> None:
    port, data_dir = free_port(), tmp_path / "data"
    args = ["--data-dir", str(data_dir), "--port", str(port)]
    with launched(tmp_path, args, clean_env(), port) as server:
        health = wait_healthy(server)
        assert health == {
            "status": "ok",
            "version": __version__,
            "runtime": health["runtime"],
            "database": "sqlite",
        }
        plans = httpx.get(f"{server.url}/api/plans", timeout=5)
        assert plans.status_code == 200
        assert plans.headers["x-request-id"].startswith("req_")
        assert_announced(server, data_dir)
        assert (data_dir / "instapods.db").is_file()
        assert (data_dir / "run" / "caddy.pid").is_file()  # the edge answered
        stop_and_check(server)
        assert not (data_dir / "run" / "caddy.pid").exists()  # and stopped with the server
        assert not (data_dir / "run" / "caddy-admin.sock").exists()


def test_server_also_stops_cleanly_on_sigint(tmp_path: Path) -> None:
    port = free_port()
    args = ["--data-dir", str(tmp_path / "data"), "--port", str(port)]
    with launched(tmp_path, args, clean_env(), port) as server:
        wait_healthy(server)
        os.kill(server.process.pid, signal.SIGINT)
        assert server.process.wait(timeout=STOP_TIMEOUT) == 0, server.output()
        assert port_is_free(port)


def test_server_reads_its_settings_from_the_environment(tmp_path: Path) -> None:
    port, data_dir = free_port(), tmp_path / "env-data"
    env = clean_env(INSTAPODS_DATA_DIR=str(data_dir), INSTAPODS_PORT=str(port))
    with launched(tmp_path, [], env, port) as server:
        assert wait_healthy(server)["database"] == "sqlite"
        assert_announced(server, data_dir)
        assert (data_dir / "instapods.db").is_file()
        stop_and_check(server)


@pytest.fixture
def process_database() -> Iterator[str]:
    """A PostgreSQL database of its own, dropped afterwards."""
    with postgres.temporary_database("server_process") as url:
        yield url


def test_server_on_postgresql(tmp_path: Path, process_database: str) -> None:
    port = free_port()
    env = clean_env(INSTAPODS_DATABASE_URL=process_database)
    args = ["--data-dir", str(tmp_path / "data"), "--port", str(port)]
    with launched(tmp_path, args, env, port) as server:
        assert wait_healthy(server)["database"] == "postgresql"
        assert not (tmp_path / "data" / "instapods.db").exists()
        stop_and_check(server)


def test_server_on_a_taken_port_exits_with_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        args = ["--data-dir", str(tmp_path / "data"), "--port", str(port)]
        with launched(tmp_path, args, clean_env(), port) as server:
            try:
                code = server.process.wait(timeout=START_TIMEOUT)
            except subprocess.TimeoutExpired:
                pytest.fail(f"server hung on a taken port\n{server.output()}")
            stderr = server.stderr.read_text()
            assert code != 0
            assert "address already in use" in stderr
            assert "start-up failed" in stderr
            assert "Task exception was never retrieved" not in stderr, stderr


def test_server_without_its_database_exits_with_an_error(tmp_path: Path) -> None:
    port, closed = free_port(), free_port()
    env = clean_env(INSTAPODS_DATABASE_URL=f"postgresql+asyncpg://postgres@127.0.0.1:{closed}/x")
    args = ["--data-dir", str(tmp_path / "data"), "--port", str(port)]
    with launched(tmp_path, args, env, port) as server:
        try:
            code = server.process.wait(timeout=START_TIMEOUT)
        except subprocess.TimeoutExpired:
            pytest.fail(f"server hung without its database\n{server.output()}")
        stderr = server.stderr.read_text()
        assert code != 0
        assert "Connect call failed" in stderr
        assert "start-up failed" in stderr
        assert port_is_free(port)


def test_db_upgrade_creates_the_sqlite_schema(tmp_path: Path) -> None:
    data_dir = tmp_path / "fresh"
    result = run_cli("db", "upgrade", "--data-dir", str(data_dir))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "database at head"
    head = ScriptDirectory.from_config(db.alembic_config()).get_current_head()
    with contextlib.closing(sqlite3.connect(data_dir / "instapods.db")) as connection:
        versions = connection.execute("SELECT version_num FROM alembic_version").fetchall()
        tables = {
            row[0]
            for row in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")
        }
    assert versions == [(head,)]
    assert set(Base.metadata.tables) <= tables

    again = run_cli("db", "upgrade", "--data-dir", str(data_dir))
    assert again.returncode == 0, again.stderr


def test_db_upgrade_reads_the_data_dir_from_the_environment(tmp_path: Path) -> None:
    data_dir = tmp_path / "env-fresh"
    result = run_cli("db", "upgrade", env=clean_env(INSTAPODS_DATA_DIR=str(data_dir)))
    assert result.returncode == 0, result.stderr
    assert (data_dir / "instapods.db").is_file()


def test_version_prints_the_version() -> None:
    result = run_cli("version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == __version__


def test_a_bad_port_is_a_usage_error() -> None:
    result = run_cli("server", "--port", "not-a-port")
    assert result.returncode == 2
    assert result.stderr.startswith("error: Invalid value for '--port'")
    assert "`instapods server --help`" in result.stderr  # one line, pointing at the help
    assert "Traceback" not in result.stderr
