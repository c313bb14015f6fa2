"""A stop leaves no process of the pod behind; a delete leaves nothing at all: no process of
the pod's uid, no network namespace `ipod-<slot>`, no veth `vp<slot>`, no mount under the
pods dir, no loop device for its image, no cgroup, no pod directory. The firewall's INSTAPODS
chains are shared by every pod (matched on `vp+`), so there is never a rule of one pod."""

from __future__ import annotations

import subprocess

from tests.e2e.support import (
    UID_BASE,
    HostPod,
    Platform,
    eventually,
    netns_names,
    processes_of_uid,
)


def _chains() -> list[str]:
    listing = subprocess.run(["iptables", "-w", "-S"], capture_output=True, text=True, check=True)
    return [line for line in listing.stdout.splitlines() if line.startswith("-N INSTAPODS")]


def _everything_there(host: HostPod) -> None:
    traces = host.traces()
    for kind in ("process", "netns", "veth", "mount", "loop device", "cgroup", "directory"):
        assert any(trace.startswith(kind) for trace in traces), (kind, traces)
    assert not [trace for trace in traces if trace.startswith("firewall rule")], traces


def _gone(platform: Platform, host: HostPod) -> None:
    eventually(host.traces, lambda traces: not traces, 30, f"everything of {host.id} removed")
    assert host.id not in platform.pod_dirs()


def test_delete_of_a_running_pod_leaves_nothing(platform: Platform) -> None:
    pod = platform.running_pod("doomed", "nodejs")
    platform.wait_page("doomed", "doomed is live")
    host = platform.host_pod(pod["id"])
    assert host.slot >= platform.first_slot  # a slot of this test's own block
    _everything_there(host)
    chains = _chains()
    assert chains  # the shared pod firewall is installed

    assert platform.api("DELETE", "/api/pods/doomed").json() == {"status": "deleted"}
    assert platform.visit("doomed").status_code == 404  # off the edge at once
    _gone(platform, host)
    assert _chains() == chains  # shared: other pods may still need it
    assert platform.api("GET", "/api/pods/doomed").status_code == 404


# An app that leaves a process of its own behind, detached from the service (its own session,
# no stdio), as apps that spawn workers do.
SPAWNER = """const { spawn } = require('child_process');
spawn('/bin/sleep', ['600'], { detached: true, stdio: 'ignore' }).unref();
require('http').createServer((req, res) => res.end('spawned')).listen(process.env.PORT);"""


def test_stop_ends_every_process_and_delete_the_rest(platform: Platform) -> None:
    pod = platform.running_pod("paused", "nodejs")
    platform.write_files("paused", {"index.js": SPAWNER})
    assert platform.reload("paused").status_code == 200
    platform.wait_page("paused", "spawned")
    host = platform.host_pod(pod["id"])
    assert any(cmd.startswith("/bin/sleep 600") for cmd in host.processes().values())

    assert platform.api("POST", "/api/pods/paused/stop").status_code == 200
    assert host.processes() == {}  # every process, the stray too, once the stop returns
    assert platform.pod("paused")["status"] == "stopped"
    assert host.network_traces()  # a stopped pod keeps its network and disk for its start
    assert host.root.is_dir()

    platform.delete_pod("paused")
    _gone(platform, host)


def test_delete_while_creating_leaves_nothing(platform: Platform) -> None:
    platform.create_pod("hasty", "static")
    platform.delete_pod("hasty")  # while its provisioning may be under way

    eventually(platform.pod_dirs, lambda dirs: not dirs, 30, "the pods dir emptied")
    block = {f"ipod-{slot}" for slot in range(platform.first_slot, platform.first_slot + 50)}
    assert not netns_names() & block
    assert processes_of_uid(UID_BASE + platform.first_slot) == {}
    assert platform.api("GET", "/api/pods/hasty").status_code == 404
