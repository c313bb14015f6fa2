"""A real `instapods server`: Caddy outlives a SIGKILL and the next server adopts it."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from instapods.edge.admin import CaddyAdmin
from instapods.edge.edge import Edge
from instapods.edge.paths import EdgePaths
from instapods.edge.process import pid_alive, read_pid
from instapods.edge.server import edge_config
from tests.edge.support import caddy_pids, edge_settings, free_port, get, upstream

INSTAPODS = Path(sys.executable).parent / "instapods"
TIMEOUT = 30.0


@contextmanager
def server(data_dir: Path, port: int, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`instapods server` on this data dir and port; killed by its PID at the end."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("INSTAPODS_")}
    argv = [str(INSTAPODS), "server", "--data-dir", str(data_dir), "--port", str(port)]
    with log.open("ab") as out:
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        yield process
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=TIMEOUT)


def wait_started(process: subprocess.Popen[bytes], port: int, log: Path, times: int) -> None:
    """Until the log says the edge started `times` times and the API answers through it."""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"server exited with {process.returncode}:\n{log.read_text()}")
        if log.read_text().count("edge started") >= times:
            response = httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=2)
            assert response.status_code == 200, response.text
            return
        time.sleep(0.05)
    pytest.fail(f"server did not start within {TIMEOUT}s:\n{log.read_text()}")


async def add_pod(data_dir: Path, port: int, name: str, address: str) -> None:
    """Route a pod on the running Caddy through its admin socket, as the server would."""
    paths = EdgePaths.in_data_dir(data_dir)
    admin = CaddyAdmin(paths.admin_socket)
    edge = Edge(edge_config(edge_settings(data_dir, port), paths), admin)
    try:
        await edge.attach()
        await edge.set_pod(name, address, "running")
    finally:
        await admin.aclose()


async def test_caddy_survives_a_killed_server_and_the_next_one_adopts_it(
    data_dir: Path, tmp_path: Path
) -> None:
    port, log = free_port(), tmp_path / "server.log"
    config_file = EdgePaths.in_data_dir(data_dir).config_file
    async with upstream("still here") as address:
        with server(data_dir, port, log) as first:
            await asyncio.to_thread(wait_started, first, port, log, 1)
            caddy = read_pid(data_dir / "run" / "caddy.pid")
            assert caddy is not None
            await add_pod(data_dir, port, "demo", address)
            assert (await get(port, "demo.localhost")).text == "still here"

            os.kill(first.pid, signal.SIGKILL)
            first.wait(timeout=TIMEOUT)

        assert pid_alive(caddy)
        pod = await get(port, "demo.localhost")
        control = await get(port, "localhost", "/api/health")
        assert (pod.status_code, pod.text) == (200, "still here")
        assert control.status_code == 502  # the API died with the server

        with server(data_dir, port, log) as second:
            await asyncio.to_thread(wait_started, second, port, log, 2)
            assert caddy_pids(config_file) == [caddy]
            assert read_pid(data_dir / "run" / "caddy.pid") == caddy
            assert "adopted the running Caddy" in log.read_text()

            os.kill(second.pid, signal.SIGTERM)
            assert second.wait(timeout=TIMEOUT) == 0, log.read_text()

    assert not pid_alive(caddy)
    assert caddy_pids(config_file) == []
    assert not (data_dir / "run" / "caddy-admin.sock").exists()
    assert not (data_dir / "run" / "api.sock").exists()
    assert "Traceback" not in log.read_text()
