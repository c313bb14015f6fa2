"""`platform`: a real `instapods server` per test, with an account, and nothing left after it.

The server runs as a subprocess on a free port with its data dir under the test's tmp_path and
its pods under /tmp/instapods-tests/<random> (pod users cannot reach pytest's tmp). At the end
every pod still there is deleted through the API (a server is started again if the test left
none running), the pods dir must then be empty, and the server is stopped with SIGTERM;
whatever still runs is killed by PID. A test marked `@pytest.mark.server_env(NAME="value")`
gets those variables in the server's environment.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from instapods.runtime.drivers.sandbox.cgroups import PodCgroup
from tests.e2e.support import (
    Platform,
    claimed_slot_block,
    destroy_on_host,
    eventually,
    free_port,
)
from tests.fixtures import sandbox

log = logging.getLogger(__name__)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "server_env(**variables): the e2e server's environment")


@pytest.fixture
def platform(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Platform]:
    marker = request.node.get_closest_marker("server_env")
    env = {str(k): str(v) for k, v in (marker.kwargs if marker else {}).items()}
    logs = tmp_path / "logs"
    logs.mkdir()
    with claimed_slot_block() as slot:
        installation = Platform(data_dir=tmp_path / "d", pods_dir=sandbox.pods_dir(),
                                port=free_port(), logs_dir=logs, env_extra=env)  # fmt: skip
        try:
            installation.start()
            installation.sign_up()
            installation.reserve_slots(slot)
            yield installation
        finally:
            _tear_down(installation)


def _tear_down(installation: Platform) -> None:
    """Delete every pod through the API, check the host is clean, stop the server."""
    problems: list[str] = []
    try:
        _delete_through_api(installation)
        code = installation.stop()
        if code != 0:
            problems.append(f"the server exited with {code} on SIGTERM")
    except Exception as exc:  # still clean the host up below
        log.exception("clean-up through the API failed")
        problems.append(f"clean-up through the API failed: {exc!r}")
    finally:
        left = installation.pod_dirs()
        _kill_everything(installation)
        if left:
            problems.append(f"pods left in {installation.pods_dir}: {left}")
        groups = _cgroup_groups(installation.pods_dir)
        if groups:
            problems.append(f"cgroups left: {groups}")
        _remove_quietly(installation.pods_dir, groups)
    assert not problems, "\n".join(problems) + "\n" + installation.output()


def _delete_through_api(installation: Platform) -> None:
    if not installation.running():
        installation.start()
    response = installation.api("GET", "/api/pods", params={"limit": 100})
    assert response.status_code == 200, response.text
    for pod in response.json()["pods"]:
        installation.delete_pod(pod["name"])
    eventually(installation.pod_dirs, lambda dirs: not dirs, 60, "the pods dir emptied")


def _kill_everything(installation: Platform) -> None:
    """Last resort, by PID: the server, its Caddy, and the pods the API did not remove."""
    if installation.running():
        assert installation.process is not None
        os.kill(installation.process.pid, signal.SIGKILL)
        installation.process.wait()
    for pid in installation.caddy_pids():
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    left = installation.pod_dirs()
    if left:
        destroy_on_host(installation.pods_dir, left)


def _cgroup_groups(root: Path) -> list[str]:
    """The installation's cgroup directories (the driver removes them once it has no pod)."""
    group = "instapods-" + hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:10]
    paths = PodCgroup.plan(group, "-").paths.values()
    return [os.path.dirname(p) for p in paths if os.path.isdir(os.path.dirname(p))]


def _remove_quietly(pods_dir: Path, groups: list[str]) -> None:
    for group in groups:
        with contextlib.suppress(OSError):
            os.rmdir(group)
    shutil.rmtree(pods_dir, ignore_errors=True)
