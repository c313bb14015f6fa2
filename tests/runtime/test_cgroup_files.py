"""What the pod's cgroup files receive and how they are read, for both cgroup versions.

This machine runs cgroup v1, which the contract suite exercises for real; these tests check the
v2 file formats (stock Debian) and the v1 memory+swap ordering on a directory laid out like the
kernel's, since a v2 hierarchy cannot be had here.
"""

from __future__ import annotations

from pathlib import Path

from instapods.runtime.drivers.sandbox.cgroups import PodCgroup

GIB = 1024**3


def _files(directory: Path, contents: dict[str, str]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in contents.items():
        (directory / name).write_text(text)


def test_v2_limits_and_readings(tmp_path: Path) -> None:
    pod = tmp_path / "instapods-x" / "pod_a"
    _files(pod, {
        "memory.max": "max\n", "memory.swap.max": "max\n", "cpu.max": "max 100000\n",
        "pids.max": "max\n", "memory.current": "1048576\n",
        "memory.events": "low 0\nhigh 0\nmax 3\noom 2\noom_kill 2\n",
        "cpu.stat": "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\n",
        "cgroup.procs": "",
    })  # fmt: skip
    cgroup = PodCgroup({"unified": str(pod)}, 2)
    cgroup.set_limits(cpu=1.5, memory_bytes=512 * 1024**2, pids=256)
    assert (pod / "memory.max").read_text() == str(512 * 1024**2)
    assert (pod / "memory.swap.max").read_text() == "0"
    assert (pod / "cpu.max").read_text() == "150000 100000"
    assert (pod / "pids.max").read_text() == "256"
    assert cgroup.oom_kills() == 2
    assert cgroup.memory_bytes() == 1048576
    assert cgroup.cpu_usage_ns() == 1_500_000
    assert cgroup.pids() == []


def test_v1_memory_and_swap_keep_their_order_when_growing_and_shrinking(tmp_path: Path) -> None:
    paths = {}
    for controller in ("memory", "cpu", "cpuacct", "pids"):
        paths[controller] = str(tmp_path / controller / "instapods-x" / "pod_a")
    memory = Path(paths["memory"])
    _files(memory, {"memory.limit_in_bytes": str(GIB), "memory.memsw.limit_in_bytes": str(GIB),
                    "memory.swappiness": "60", "memory.oom_control": "oom_kill_disable 0\n"
                    "under_oom 0\noom_kill 1\n"})  # fmt: skip
    _files(Path(paths["cpu"]), {"cpu.cfs_period_us": "100000", "cpu.cfs_quota_us": "-1"})
    _files(Path(paths["pids"]), {"pids.max": "max", "cgroup.procs": "12\n13\n"})
    cgroup = PodCgroup(paths, 1)

    cgroup.set_limits(cpu=2, memory_bytes=2 * GIB, pids=64)  # grow: memsw first
    assert (memory / "memory.limit_in_bytes").read_text() == str(2 * GIB)
    assert (memory / "memory.memsw.limit_in_bytes").read_text() == str(2 * GIB)
    assert (Path(paths["cpu"]) / "cpu.cfs_quota_us").read_text() == "200000"
    assert (memory / "memory.swappiness").read_text() == "0"

    cgroup.set_limits(cpu=1, memory_bytes=GIB // 2, pids=64)  # shrink: memory first
    assert (memory / "memory.limit_in_bytes").read_text() == str(GIB // 2)
    assert (memory / "memory.memsw.limit_in_bytes").read_text() == str(GIB // 2)
    assert cgroup.oom_kills() == 1
    assert cgroup.pids() == [12, 13]
