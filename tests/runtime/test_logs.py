"""Service logs on the host: stamped lines, rotation by size, nothing lost or repeated across a
restart of the collector, and the raw output freed once read."""

from __future__ import annotations

import os
from pathlib import Path

from instapods.runtime.drivers.sandbox.logs import PUNCH_AFTER, ServiceLog


def _write(log: ServiceLog, stream: str, text: str) -> None:
    fd = log.open_raw(stream)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def test_lines_are_stamped_per_stream_and_partial_lines_wait(tmp_path: Path) -> None:
    log = ServiceLog(tmp_path, "app", max_bytes=1_000_000)
    _write(log, "stdout", "one\ntwo\npart")
    _write(log, "stderr", "oops\n")
    assert log.collect() == 3
    _write(log, "stdout", "ial\n")
    assert log.collect() == 1
    lines = log.tail(10)
    assert sorted((line.stream, line.message) for line in lines) == [
        ("stderr", "oops"), ("stdout", "one"), ("stdout", "partial"), ("stdout", "two"),
    ]  # fmt: skip
    assert all(line.service == "app" and line.timestamp.tzinfo for line in lines)


def test_the_log_rotates_by_size_and_keeps_one_old_file(tmp_path: Path) -> None:
    log = ServiceLog(tmp_path, "app", max_bytes=4096)
    for round_ in range(5):
        _write(log, "stdout", "".join(f"round {round_} line {i}\n" for i in range(100)))
        log.collect()
    assert (tmp_path / "app.log.1").exists()
    current = tmp_path / "app.log"  # absent right after a rotation, until the next line
    assert not current.exists() or current.stat().st_size <= 4096
    assert not (tmp_path / "app.log.2").exists()
    assert log.tail(1)[0].message == "round 4 line 99"


def test_a_new_collector_resumes_without_repeating_or_losing_lines(tmp_path: Path) -> None:
    first = ServiceLog(tmp_path, "app", max_bytes=1_000_000)
    _write(first, "stdout", "before\n")
    first.collect()
    _write(first, "stdout", "while away\n")  # written while no collector runs
    second = ServiceLog(tmp_path, "app", max_bytes=1_000_000)
    second.collect()
    assert [line.message for line in second.tail(10)] == ["before", "while away"]


def test_read_output_is_freed_from_the_raw_file(tmp_path: Path) -> None:
    log = ServiceLog(tmp_path, "app", max_bytes=10_000_000)
    line = "x" * 1023 + "\n"
    _write(log, "stdout", line * (4 * PUNCH_AFTER // 1024))
    raw = log.raw("stdout")
    before = raw.stat().st_blocks
    log.collect()
    after = raw.stat()
    assert after.st_size == 4 * PUNCH_AFTER  # offsets stay valid for the writer
    assert after.st_blocks < before  # but the disk space is given back
