"""The real `instapods worker` and `instapods server` processes run queued jobs and stop cleanly
on SIGTERM, handing nothing half-done to the next start."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from instapods import db
from instapods.config import Settings
from instapods.models import Job
from instapods.worker import enqueue, transaction
from instapods.worker.queue import now

INSTAPODS = Path(sys.executable).parent / "instapods"
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0


@contextmanager
def database(runner: asyncio.Runner, url: str) -> Iterator[AsyncEngine]:
    engine = db.create_engine(url)
    runner.run(db.upgrade(engine))
    try:
        yield engine
    finally:
        runner.run(engine.dispose())


async def queue_prune(engine: AsyncEngine) -> tuple[str, str]:
    """An old finished job, and a `jobs.prune` job that should delete it."""
    long_ago = now() - timedelta(days=2)
    async with transaction(db.session_factory(engine)) as session:
        old = Job(
            id="job_old", kind="jobs.prune", payload={}, status="succeeded", max_attempts=1,
            attempts=1, run_at=long_ago, finished_at=long_ago,
        )  # fmt: skip
        session.add(old)
        prune = await enqueue(session, "jobs.prune", {"older_than_days": 1})
    return old.id, prune.id


async def status_of(engine: AsyncEngine, job_id: str) -> str | None:
    async with db.session_factory(engine)() as session:
        job = await session.get(Job, job_id)
    return None if job is None else job.status


def environment(settings: Settings, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INSTAPODS_")}
    env.update(PYTHONUNBUFFERED="1", INSTAPODS_DATA_DIR=str(settings.data_dir), **extra)
    env["INSTAPODS_DATABASE_URL"] = settings.resolved_database_url
    if settings.pods_dir is not None:
        env["INSTAPODS_PODS_DIR"] = str(settings.pods_dir)
    return env


@contextmanager
def launched(tmp_path: Path, args: list[str], env: dict[str, str]) -> Iterator[Process]:
    """Start `instapods …`; always kill it by its PID at the end."""
    stdout, stderr = tmp_path / "stdout.log", tmp_path / "stderr.log"
    with stdout.open("wb") as out, stderr.open("wb") as err:
        popen = subprocess.Popen([str(INSTAPODS), *args], stdout=out, stderr=err, env=env)
    process = Process(popen, stdout, stderr)
    try:
        yield process
    finally:
        if popen.poll() is None:
            os.kill(popen.pid, signal.SIGKILL)
        popen.wait(timeout=STOP_TIMEOUT)


class Process:
    def __init__(self, popen: subprocess.Popen[bytes], stdout: Path, stderr: Path) -> None:
        self.popen, self.stdout, self.stderr = popen, stdout, stderr

    def output(self) -> str:
        return f"stdout:\n{self.stdout.read_text()}\nstderr:\n{self.stderr.read_text()}"

    def wait_for_job(self, runner: asyncio.Runner, engine: AsyncEngine, job_id: str) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while (status := runner.run(status_of(engine, job_id))) != "succeeded":
            if self.popen.poll() is not None:
                pytest.fail(f"exited with {self.popen.returncode}\n{self.output()}")
            if time.monotonic() > deadline:
                pytest.fail(f"job {job_id} still {status}\n{self.output()}")
            time.sleep(0.05)

    def stop(self) -> None:
        """SIGTERM stops it cleanly (exit 0) within a few seconds, without a traceback."""
        started = time.monotonic()
        os.kill(self.popen.pid, signal.SIGTERM)
        try:
            code = self.popen.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            pytest.fail(f"ignored SIGTERM for {STOP_TIMEOUT}s\n{self.output()}")
        assert code == 0, self.output()
        assert time.monotonic() - started < 5, "stopping took too long"
        assert "Traceback" not in self.stderr.read_text(), self.output()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_instapods_worker_runs_jobs_and_stops_on_sigterm(
    tmp_path: Path, settings: Settings
) -> None:
    with asyncio.Runner() as runner, database(runner, settings.resolved_database_url) as engine:
        old, prune = runner.run(queue_prune(engine))
        with launched(tmp_path, ["worker"], environment(settings)) as worker:
            worker.wait_for_job(runner, engine, prune)
            assert runner.run(status_of(engine, old)) is None  # pruned
            worker.stop()
        assert "job worker" in worker.stdout.read_text()
        assert "jobs.prune" in worker.stderr.read_text()  # the kinds it runs, logged at start


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_instapods_server_runs_the_worker_in_process(tmp_path: Path, settings: Settings) -> None:
    port = str(free_port())
    with asyncio.Runner() as runner, database(runner, settings.resolved_database_url) as engine:
        old, prune = runner.run(queue_prune(engine))
        with launched(tmp_path, ["server", "--port", port], environment(settings)) as server:
            server.wait_for_job(runner, engine, prune)
            assert runner.run(status_of(engine, old)) is None
            server.stop()
