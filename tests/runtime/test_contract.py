"""The driver contract: what every runtime driver does, checked through its interface and
from the host (conftest.py runs each test once per driver).

The pods are real (processes, namespaces, limits, disks on this machine); the `driver`
fixture destroys them even when a test fails.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from instapods.runtime.base import Capability, Driver, PodSpec, PodState, PodStatus, RuntimeEvent
from instapods.runtime.errors import DiskTooSmall, PodNotFound, RuntimeDriverError
from tests.fixtures.sandbox import pod_spec, python_server
from tests.runtime.support import (
    Host,
    answers,
    eventually,
    http_status,
    present,
    python_service,
    run_python,
)

MIB = 1024**2
GIB = 1024**3
DF = ("/usr/bin/df", "--block-size=1", "--output=size", "/home/instapod")
STREAMS = """
import sys, time
for i in range(10):
    print(f"out {i}")
for i in range(5):
    print(f"err {i}", file=sys.stderr)
time.sleep(600)
"""
# Two services that take turns through files in the pod's shared /tmp, each pause longer
# than the driver takes to collect output, so their lines get distinct times.
FIRST = """
import os, time
print("first 1")
open("/tmp/first-1", "w").close()
while not os.path.exists("/tmp/second-1"):
    time.sleep(0.02)
time.sleep(0.6)
print("first 2")
time.sleep(600)
"""
SECOND = """
import os, time
while not os.path.exists("/tmp/first-1"):
    time.sleep(0.02)
time.sleep(0.6)
print("second 1")
open("/tmp/second-1", "w").close()
time.sleep(600)
"""
HOG = "chunks = []\nwhile True:\n    chunks.append(b'x' * (8 << 20))"
BUSY = "import time\nend = time.process_time() + 0.3\nwhile time.process_time() < end: pass"


async def started(driver: Driver, spec: PodSpec) -> PodState:
    await driver.create(spec)
    state = await driver.start(spec)
    assert state.status == PodStatus.RUNNING, state
    return state


def pids(state: PodState) -> dict[str, int | None]:
    return {service.name: service.pid for service in state.services}


def resized(
    spec: PodSpec, *, memory_mb: int | None = None, disk_gb: float | None = None
) -> PodSpec:
    resources = spec.resources
    return replace(
        spec,
        resources=replace(
            resources,
            memory_mb=memory_mb or resources.memory_mb,
            disk_gb=disk_gb or resources.disk_gb,
        ),
    )


async def disk_size(driver: Driver, spec: PodSpec) -> int:
    """The size of the pod's home filesystem as the pod sees it (`df`)."""
    result = await driver.exec(spec, DF, timeout=10)
    assert result.exit_code == 0, result
    return int(result.stdout.split()[-1])


async def processes(host: Host, pod_id: str) -> list[int]:
    return host.processes(pod_id)


async def events_until(
    driver: Driver, accept: Callable[[list[RuntimeEvent]], bool], timeout: float = 15.0
) -> list[RuntimeEvent]:
    seen: list[RuntimeEvent] = []

    async def collect() -> list[RuntimeEvent]:
        seen.extend(driver.events())
        return list(seen)

    return await eventually(collect, accept, timeout)


def has(kind: str, service: str) -> Callable[[Sequence[RuntimeEvent]], bool]:
    return lambda events: any(e.type == kind and e.service == service for e in events)


# -- lifecycle -----------------------------------------------------------------------------


async def test_create_makes_a_stopped_pod_running_nothing(driver: Driver, host: Host) -> None:
    spec = pod_spec(python_server())
    assert (await driver.state(spec.id)).status == PodStatus.ABSENT
    await driver.create(spec)
    state = await driver.state(spec.id)
    assert state.status == PodStatus.STOPPED
    assert not any(service.running for service in state.services)
    assert host.processes(spec.id) == []


async def test_start_runs_the_services_reachable_from_the_host(driver: Driver, host: Host) -> None:
    spec = pod_spec(python_server())
    state = await started(driver, spec)
    assert state.address
    assert [(s.name, s.running) for s in state.services] == [("app", True)]
    assert await http_status(state.address, 8000) == 200
    assert pids(state)["app"] in host.processes(spec.id)


async def test_start_again_replaces_the_services(driver: Driver, host: Host) -> None:
    spec = pod_spec(python_server())
    first = await started(driver, spec)
    count = len(host.processes(spec.id))
    again = await driver.start(spec)
    assert again.status == PodStatus.RUNNING
    assert pids(again)["app"] != pids(first)["app"]
    assert pids(first)["app"] not in host.processes(spec.id)
    assert len(host.processes(spec.id)) == count  # one set of processes, not two
    assert await http_status(again.address, 8000) == 200


async def test_stop_ends_every_process_and_start_brings_them_back(
    driver: Driver, host: Host
) -> None:
    spec = pod_spec(python_server())
    state = await started(driver, spec)
    await driver.stop(spec.id)
    assert (await driver.state(spec.id)).status == PodStatus.STOPPED
    assert host.processes(spec.id) == []
    with pytest.raises(httpx.ConnectError):
        await http_status(state.address, 8000)
    await driver.stop(spec.id)  # stopping a stopped pod is fine
    assert (await driver.start(spec)).status == PodStatus.RUNNING
    assert await http_status(state.address, 8000) == 200


async def test_restart_service_restarts_that_service_only(driver: Driver) -> None:
    spec = pod_spec(python_server("web", 8000), python_server("api", 8001))
    before = await started(driver, spec)
    await driver.restart_service(spec, "api")
    after = await driver.state(spec.id)
    assert after.status == PodStatus.RUNNING
    assert pids(after)["web"] == pids(before)["web"]
    assert pids(after)["api"] != pids(before)["api"]
    for port in (8000, 8001):
        assert await http_status(after.address, port) == 200
    with pytest.raises(RuntimeDriverError):
        await driver.restart_service(spec, "nonexistent")


async def test_an_unknown_pod_is_absent_and_refused(driver: Driver) -> None:
    spec = pod_spec(python_server())
    assert (await driver.state(spec.id)).status == PodStatus.ABSENT
    await driver.stop(spec.id)
    await driver.destroy(spec.id)
    assert await driver.logs(spec.id, None, 10) == []
    with pytest.raises(PodNotFound):
        await driver.exec(spec, ["/bin/true"], timeout=5)
    with pytest.raises(PodNotFound):
        await driver.usage(spec.id)
    with pytest.raises(PodNotFound):
        await driver.resize(spec)
    with pytest.raises(PodNotFound):
        await driver.restart_service(spec, "app")
    with pytest.raises(PodNotFound):
        await driver.start(spec)
    assert (await driver.state(spec.id)).status == PodStatus.ABSENT


# -- exec ----------------------------------------------------------------------------------


async def test_exec_returns_the_exit_code_and_both_streams(driver: Driver) -> None:
    spec = pod_spec()
    await driver.create(spec)
    result = await driver.exec(
        spec, ["/bin/sh", "-c", "echo out; echo err >&2; exit 7"], timeout=10
    )
    assert (result.exit_code, result.stdout, result.stderr) == (7, "out\n", "err\n")
    assert not result.timed_out


async def test_exec_runs_as_the_pod_user_in_the_app_directory(driver: Driver) -> None:
    spec = pod_spec()
    await driver.create(spec)
    script = 'id -u; id -un; pwd; echo "$HOME"'
    result = await driver.exec(spec, ["/bin/sh", "-c", script], timeout=10)
    assert result.stdout.split() == ["1000", "instapod", "/home/instapod/app", "/home/instapod"]
    elsewhere = await driver.exec(spec, ["/bin/pwd"], timeout=10, cwd="/tmp")
    assert elsewhere.stdout == "/tmp\n"


async def test_exec_passes_the_pod_and_command_environment(driver: Driver) -> None:
    spec = replace(pod_spec(), env={"FROM_POD": "pod", "BOTH": "pod"})
    await driver.create(spec)
    code = "import os\nfor k in ('FROM_POD', 'FROM_EXEC', 'BOTH'): print(os.environ.get(k))"
    result = await driver.exec(
        spec, ["/usr/bin/python3", "-c", code], timeout=10, env={"FROM_EXEC": "x", "BOTH": "x"}
    )
    assert result.stdout.split() == ["pod", "x", "x"]


async def test_exec_feeds_stdin(driver: Driver) -> None:
    spec = pod_spec()
    await driver.create(spec)
    small = await driver.exec(spec, ["/bin/cat"], timeout=10, stdin=b"hello\nworld\n")
    assert small.stdout == "hello\nworld\n"
    data = bytes(range(256)) * 1024  # more than a pipe holds
    code = "import hashlib, sys\nprint(hashlib.sha256(sys.stdin.buffer.read()).hexdigest())"
    big = await driver.exec(spec, ["/usr/bin/python3", "-c", code], timeout=10, stdin=data)
    assert big.stdout.strip() == hashlib.sha256(data).hexdigest()


async def test_exec_timeout_kills_the_command_and_its_children(driver: Driver, host: Host) -> None:
    spec = pod_spec()
    await driver.create(spec)
    began = time.monotonic()
    script = "sleep 60 & sleep 60 & echo started; wait"
    result = await driver.exec(spec, ["/bin/sh", "-c", script], timeout=1)
    assert result.timed_out
    assert result.stdout == "started\n"
    assert time.monotonic() - began < 10
    assert host.processes(spec.id) == []


# -- logs ----------------------------------------------------------------------------------


async def test_logs_keep_each_line_with_its_service_stream_and_time(driver: Driver) -> None:
    spec = pod_spec(python_service("app", STREAMS))
    began = datetime.now(UTC) - timedelta(seconds=1)
    await started(driver, spec)
    lines = await eventually(lambda: driver.logs(spec.id, "app", 100), lambda got: len(got) >= 15)
    ended = datetime.now(UTC) + timedelta(seconds=1)
    assert len(lines) == 15
    assert {line.service for line in lines} == {"app"}
    assert [ln.message for ln in lines if ln.stream == "stdout"] == [f"out {i}" for i in range(10)]
    assert [ln.message for ln in lines if ln.stream == "stderr"] == [f"err {i}" for i in range(5)]
    assert all(began <= line.timestamp <= ended for line in lines)
    assert await driver.logs(spec.id, "app", 3) == lines[-3:]


async def test_logs_of_all_services_merge_in_time_order(driver: Driver) -> None:
    spec = pod_spec(python_service("first", FIRST), python_service("second", SECOND))
    await started(driver, spec)
    lines = await eventually(lambda: driver.logs(spec.id, None, 100), lambda got: len(got) >= 3)
    assert [(line.service, line.message) for line in lines] == [
        ("first", "first 1"),
        ("second", "second 1"),
        ("first", "first 2"),
    ]
    assert [line.timestamp for line in lines] == sorted(line.timestamp for line in lines)
    assert [line.message for line in await driver.logs(spec.id, None, 2)] == [
        "second 1",
        "first 2",
    ]


# -- resize and usage ----------------------------------------------------------------------


@pytest.mark.requires(Capability.LIVE_RESIZE)
async def test_resize_changes_the_memory_limit_live(driver: Driver, host: Host) -> None:
    spec = pod_spec(python_server(), memory_mb=256)
    before = await started(driver, spec)
    assert host.memory_limit(spec.id) == 256 * MIB
    await driver.resize(resized(spec, memory_mb=384))
    assert host.memory_limit(spec.id) == 384 * MIB
    await driver.resize(resized(spec, memory_mb=128))
    assert host.memory_limit(spec.id) == 128 * MIB
    after = await driver.state(spec.id)
    assert pids(after) == pids(before)
    assert await http_status(after.address, 8000) == 200


@pytest.mark.requires(Capability.DISK_QUOTA)
async def test_resize_grows_the_disk(driver: Driver) -> None:
    spec = pod_spec(python_server(), disk_gb=0.5)
    state = await started(driver, spec)
    wrote = await driver.exec(spec, ["/bin/sh", "-c", "echo kept > note"], timeout=10)
    assert wrote.exit_code == 0
    small = await disk_size(driver, spec)
    grown = resized(spec, disk_gb=1)
    await driver.resize(grown)
    big = await disk_size(driver, grown)
    assert big > small * 1.8
    assert (await driver.usage(spec.id)).disk_limit_bytes == big
    assert (await driver.exec(grown, ["/bin/cat", "note"], timeout=10)).stdout == "kept\n"
    await eventually(lambda: answers(state.address, 8000), bool)


@pytest.mark.requires(Capability.DISK_QUOTA)
async def test_resize_refuses_a_disk_smaller_than_the_files(driver: Driver) -> None:
    spec = pod_spec(python_server(), disk_gb=1)
    before = await started(driver, spec)
    filled = await driver.exec(spec, ["/usr/bin/fallocate", "-l", "600M", "big"], timeout=30)
    assert filled.exit_code == 0, filled
    with pytest.raises(DiskTooSmall):
        await driver.resize(resized(spec, disk_gb=0.5))
    after = await driver.state(spec.id)
    assert after.status == PodStatus.RUNNING
    assert pids(after) == pids(before)
    assert await disk_size(driver, spec) > 0.9 * GIB
    kept = await driver.exec(spec, ["/usr/bin/stat", "-c", "%s", "big"], timeout=10)
    assert kept.stdout.strip() == str(600 * MIB)


@pytest.mark.requires(Capability.DISK_QUOTA)
async def test_resize_shrinks_the_disk_when_the_files_fit(driver: Driver) -> None:
    spec = pod_spec(python_server(), disk_gb=1)
    await started(driver, spec)
    wrote = await driver.exec(spec, ["/bin/sh", "-c", "echo kept > note"], timeout=10)
    assert wrote.exit_code == 0
    small = resized(spec, disk_gb=0.5)
    await driver.resize(small)
    assert await disk_size(driver, small) <= GIB // 2
    assert (await driver.exec(small, ["/bin/cat", "note"], timeout=10)).stdout == "kept\n"
    state = await driver.state(spec.id)
    assert state.status == PodStatus.RUNNING
    await eventually(lambda: answers(state.address, 8000), bool)


@pytest.mark.requires(Capability.DISK_QUOTA)
async def test_resize_waits_until_the_disk_is_let_go(driver: Driver, host: Host) -> None:
    """The kernel holds a pod's filesystem a moment after its processes die; checking and
    resizing the disk before it lets go corrupted it (seen with several resizes at once)."""
    spec = pod_spec(python_server(), disk_gb=1)
    await started(driver, spec)
    await driver.exec(spec, ["/bin/sh", "-c", "echo kept > note"], timeout=10)
    small = resized(spec, disk_gb=0.5)
    with host.disk_held(spec.id, seconds=1):
        await driver.resize(small)
    assert await disk_size(driver, small) <= GIB // 2
    assert (await driver.exec(small, ["/bin/cat", "note"], timeout=10)).stdout == "kept\n"


async def test_usage_reports_plausible_figures(driver: Driver, host: Host) -> None:
    spec = pod_spec(python_server(), memory_mb=256, disk_gb=1)
    await started(driver, spec)
    dd = ["/usr/bin/dd", "if=/dev/zero", "of=data", "bs=1M", "count=20", "conv=fsync"]
    assert (await driver.exec(spec, dd, timeout=30)).exit_code == 0
    usage = await driver.usage(spec.id)
    assert 1 * MIB < usage.memory_bytes < 256 * MIB
    assert 20 * MIB <= usage.disk_bytes < 200 * MIB
    assert 0.9 * GIB < usage.disk_limit_bytes <= GIB
    assert usage.processes == len(host.processes(spec.id)) >= 1
    assert (await run_python(driver, spec, BUSY)).exit_code == 0
    busier = await driver.usage(spec.id)
    assert busier.cpu_usage_ns - usage.cpu_usage_ns >= 250_000_000
    await driver.stop(spec.id)
    assert (await driver.usage(spec.id)).processes == 0


# -- destroy and adopt ---------------------------------------------------------------------


async def test_destroy_leaves_nothing_on_the_host(driver: Driver, host: Host) -> None:
    spec = pod_spec(python_server())
    await started(driver, spec)
    traces = host.traces(spec.id)
    assert present(traces) == [trace.what for trace in traces]
    await driver.destroy(spec.id)
    assert present(traces) == []
    assert (await driver.state(spec.id)).status == PodStatus.ABSENT
    await driver.destroy(spec.id)  # destroying again is fine


@pytest.mark.requires(Capability.ADOPT)
async def test_adopt_takes_back_running_services_and_restarts_dead_ones(
    driver: Driver, host: Host, monkeypatch: pytest.MonkeyPatch
) -> None:
    kept, dead = pod_spec(python_server()), pod_spec(python_server())
    before = await started(driver, kept)
    await started(driver, dead)
    assert await http_status(before.address, 8000) == 200  # a line in the log, to keep
    await eventually(lambda: driver.logs(kept.id, "app", 10), lambda got: len(got) >= 1)
    count = len(host.processes(kept.id))
    await driver.close()  # the control plane goes away; its pods keep running
    host.kill_service(dead.id, "app")
    await eventually(lambda: processes(host, dead.id), lambda found: found == [])

    host.quick_restarts(monkeypatch)
    async with host.reopen() as again:
        assert await again.adopt([kept, dead]) == []
        state = await again.state(kept.id)
        assert state.status == PodStatus.RUNNING
        assert pids(state) == pids(before)
        assert len(host.processes(kept.id)) == count
        assert await http_status(state.address, 8000) == 200
        assert any("GET / " in line.message for line in await again.logs(kept.id, "app", 10))
        revived = await again.state(dead.id)
        assert revived.services[0].running
        await eventually(lambda: answers(revived.address, 8000), bool)

        host.kill_service(kept.id, "app")  # the new driver watches what it took back
        await events_until(again, has("restarted", "app"))
        back = await again.state(kept.id)
        assert pids(back)["app"] != pids(before)["app"]


@pytest.mark.requires(Capability.ADOPT)
async def test_adopt_destroys_the_pods_it_was_not_given(driver: Driver, host: Host) -> None:
    kept, idle, orphan = (pod_spec(python_server()) for _ in range(3))
    await started(driver, kept)
    await driver.create(idle)
    await started(driver, orphan)
    orphan_traces = host.traces(orphan.id)
    await driver.close()
    async with host.reopen() as again:
        assert await again.adopt([kept, idle]) == [orphan.id]
        assert present(orphan_traces) == []
        assert (await again.state(orphan.id)).status == PodStatus.ABSENT
        assert (await again.state(idle.id)).status == PodStatus.STOPPED
        assert host.processes(idle.id) == []
        state = await again.state(kept.id)
        assert state.status == PodStatus.RUNNING
        assert await http_status(state.address, 8000) == 200


# -- crashes -------------------------------------------------------------------------------


async def test_a_crashed_service_is_restarted_with_events(
    driver: Driver, host: Host, monkeypatch: pytest.MonkeyPatch
) -> None:
    host.quick_restarts(monkeypatch)
    spec = pod_spec(python_service("app", "import time\ntime.sleep(0.5)\nraise SystemExit(3)"))
    await started(driver, spec)
    events = await events_until(driver, has("restarted", "app"))
    kinds = [event.type for event in events]
    assert kinds.index("crashed") < kinds.index("restarted")
    crash = events[kinds.index("crashed")]
    assert (crash.pod_id, crash.service) == (spec.id, "app")
    assert "code 3" in crash.message
    service = (await driver.state(spec.id)).services[0]
    assert service.restarts >= 1
    assert service.last_exit_code == 3


async def test_a_crash_loop_is_flagged(
    driver: Driver, host: Host, monkeypatch: pytest.MonkeyPatch
) -> None:
    host.quick_restarts(monkeypatch)
    spec = pod_spec(python_service("app", "raise SystemExit(1)"))
    await driver.create(spec)
    await driver.start(spec)
    state = await eventually(
        lambda: driver.state(spec.id), lambda s: "crash loop" in (s.message or ""), timeout=30
    )
    assert state.status == PodStatus.DEGRADED
    assert state.services[0].crash_loop
    kinds = [event.type for event in driver.events()]
    assert kinds[: kinds.index("crash_loop")].count("crashed") == 5  # flagged at the fifth


async def test_an_oom_kill_is_reported(driver: Driver) -> None:
    spec = pod_spec(python_server(), python_service("hog", HOG), memory_mb=96)
    await driver.create(spec)
    state = await driver.start(spec)  # the hog may be dead already: no status to expect
    events = await events_until(driver, has("oom_killed", "hog"))
    assert not has("oom_killed", "app")(events)
    assert "out of memory" in next(e.message for e in events if e.type == "oom_killed")
    assert await http_status(state.address, 8000) == 200  # its neighbour in the pod lives on
