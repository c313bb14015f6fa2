"""Pods outlive the control plane: `kill -9` of `instapods server` leaves every pod serving
through the edge (Caddy runs on its own), and the next start on the same data dir and port
takes them back as they are (same processes, one Caddy, logs kept), with no duplicate and no
orphan. A create cut short by the kill is finished (or failed with a message) once the dead
worker's lease runs out, never left `creating`."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.support import (
    HostPod,
    Platform,
    netns_names,
)

LEASE = 4  # seconds; the worker's default lease (60 s) would make the resume test wait a minute


def _log_messages(platform: Platform, name: str) -> list[str]:
    response = platform.api("GET", f"/api/pods/{name}/logs", params={"lines": 1000})
    assert response.status_code == 200, response.text
    return [line["message"] for line in response.json()["lines"]]


def _wait_logged(platform: Platform, name: str, text: str) -> None:
    deadline = time.monotonic() + 10
    while not any(text in message for message in _log_messages(platform, name)):
        assert time.monotonic() < deadline, f"{text!r} never reached the logs of {name}"
        time.sleep(0.1)


def _masters(host: HostPod, prefix: str) -> list[int]:
    return [pid for pid, cmd in host.processes().items() if cmd.startswith(prefix)]


def test_pods_keep_serving_through_a_kill_9_and_are_adopted(platform: Platform) -> None:
    site = platform.running_pod("steady", "static")
    app = platform.running_pod("engine", "nodejs")
    platform.wait_page("steady", "steady is live")
    platform.wait_page("engine", "engine is live")
    before_mark, during_mark = f"before-{uuid.uuid4().hex}", f"during-{uuid.uuid4().hex}"
    assert platform.visit("steady", f"/?{before_mark}").status_code == 200
    _wait_logged(platform, "steady", before_mark)  # nginx's access log, collected
    site_host, app_host = platform.host_pod(site["id"]), platform.host_pod(app["id"])
    site_processes, app_processes = site_host.processes(), app_host.processes()
    assert len(_masters(site_host, "nginx: master")) == 1, site_processes
    assert len(_masters(app_host, "/usr/bin/node index.js")) == 1, app_processes
    (caddy,) = platform.caddy_pids()

    platform.kill9()

    for _ in range(20):  # the edge and the pods go on without the control plane
        assert "steady is live" in platform.visit("steady", f"/?{during_mark}").text
        assert "engine is live" in platform.visit("engine").text
        time.sleep(0.05)
    control = platform.api("GET", "/api/health")
    assert control.status_code == 502
    assert "instapods is not answering" in control.text

    platform.start()  # same data dir, same port

    assert platform.caddy_pids() == [caddy]  # adopted, not a second one
    assert "steady is live" in platform.visit("steady").text
    assert "engine is live" in platform.visit("engine").text
    assert site_host.processes() == site_processes  # the same processes, none started again
    assert app_host.processes() == app_processes
    for name in ("steady", "engine"):
        assert platform.pod(name)["status"] == "running"
    listing = platform.api("GET", "/api/pods").json()
    assert sorted(pod["name"] for pod in listing["pods"]) == ["engine", "steady"]
    assert platform.pod_dirs() == sorted([site["id"], app["id"]])
    messages = _log_messages(platform, "steady")
    assert any(before_mark in message for message in messages)  # logged before the kill
    _wait_logged(platform, "steady", during_mark)  # and while no control plane ran

    # The adopted pods are managed as before: a stop really stops them.
    assert platform.api("POST", "/api/pods/steady/stop").status_code == 200
    assert site_host.processes() == {}
    assert platform.visit("steady").status_code == 503


def _kill_during_create(platform: Platform, name: str, marker: str | None) -> str:
    """Create a pod and kill the server at once (`marker` None), or the moment the pod's
    directory on the host holds `marker` (a step of provisioning has begun). Returns its id."""
    pod_id: str = platform.create_pod(name, "static")["id"]
    if marker is not None:
        path = platform.pods_dir / pod_id / marker
        deadline = time.monotonic() + 30
        while not path.exists():
            assert time.monotonic() < deadline, f"provisioning never reached {marker}"
        # (A busy loop: the moment matters to the millisecond.)
    platform.kill9()
    return pod_id


def _resumed(platform: Platform, name: str) -> dict[str, Any]:
    """Start the server again; the pod, once the dead worker's lease ran out and the job was
    resumed, must be running, or in error with a reason: not left creating."""
    platform.start()
    started = time.monotonic()
    pod = platform.wait_status(name, {"running", "error"}, timeout=LEASE + 12)
    assert pod["status"] == "running" or pod["status_message"], pod
    assert time.monotonic() - started < LEASE + 12
    return pod


def _one_of_everything(platform: Platform, pod_id: str, running: bool) -> None:
    """Exactly this pod on the host, running at most once: no duplicate, no orphan."""
    assert platform.pod_dirs() == [pod_id]
    host = platform.host_pod(pod_id)
    assert len(_masters(host, "nginx: master")) == (1 if running else 0), host.processes()
    block = {f"ipod-{slot}" for slot in range(platform.first_slot, platform.first_slot + 50)}
    assert netns_names() & block == {host.net.netns}
    for cgroup in host.cgroups:
        assert sorted(p.name for p in Path(cgroup).parent.iterdir() if p.is_dir()) == [pod_id]
    listing = platform.api("GET", "/api/pods").json()
    assert [pod["id"] for pod in listing["pods"]] == [pod_id]


@pytest.mark.server_env(INSTAPODS_WORKER_LEASE_SECONDS=str(LEASE))
@pytest.mark.parametrize(
    "marker",
    [
        pytest.param(None, id="at-once"),  # before (or as) the worker takes the job
        pytest.param("etc", id="disk-ready"),  # storage, network and cgroup made
        pytest.param("services.json", id="services-starting"),  # its services being launched
    ],
)
def test_a_create_cut_short_by_a_kill_9_is_resumed(platform: Platform, marker: str | None) -> None:
    pod_id = _kill_during_create(platform, "phoenix", marker)

    pod = _resumed(platform, "phoenix")
    if pod["status"] == "running":
        platform.wait_page("phoenix", "phoenix is live")
    _one_of_everything(platform, pod_id, running=pod["status"] == "running")


@pytest.mark.server_env(INSTAPODS_WORKER_LEASE_SECONDS=str(LEASE))
def test_a_create_cut_short_while_its_disk_is_made_is_resumed(platform: Platform) -> None:
    pod_id = _kill_during_create(platform, "phoenix", "disk")  # the mount point: mkfs is done

    pod = _resumed(platform, "phoenix")
    assert pod["status"] == "running", pod
    _one_of_everything(platform, pod_id, running=True)
