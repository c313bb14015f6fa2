"""Service output: raw files the processes write, turned into timestamped, rotated logs.

A service writes its stdout and stderr straight into `<service>.out` / `<service>.err` (files
it holds open, so it never blocks or dies when the control plane is away). The collector
reads what was added, stamps each line and appends it to `<service>.log`, which it rotates by
size. What it has read is freed from the raw files by punching a hole (the file keeps its
length, so the writer's appends and our offsets stay valid), and its offsets are saved so a
restarted control plane resumes where it stopped.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from instapods.runtime.base import LogLine

STREAMS = ("stdout", "stderr")
SUFFIX = {"stdout": ".out", "stderr": ".err"}
MAX_LINE = 16 * 1024
PUNCH_AFTER = 64 * 1024
_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
_FALLOC_FL_KEEP_SIZE = 0x01
_FALLOC_FL_PUNCH_HOLE = 0x02


def _punch(fd: int, length: int) -> None:
    """Free the first `length` bytes of a file without changing its size or offsets."""
    _libc.fallocate(fd, _FALLOC_FL_PUNCH_HOLE | _FALLOC_FL_KEEP_SIZE, ctypes.c_long(0),
                    ctypes.c_long(length))  # fmt: skip


class ServiceLog:
    """The log files of one service of one pod."""

    def __init__(self, directory: Path, service: str, max_bytes: int, uid: int = 0) -> None:
        self.directory = directory
        self.service = service
        self.max_bytes = max_bytes
        self.uid = uid  # the pod's user owns its raw output, so it may reopen /dev/stdout
        self.log = directory / f"{service}.log"
        self._offsets_path = directory / f".{service}.offsets"
        self.offsets = self._load_offsets()
        self._partial: dict[str, bytes] = {"stdout": b"", "stderr": b""}

    def raw(self, stream: str) -> Path:
        return self.directory / f"{self.service}{SUFFIX[stream]}"

    def open_raw(self, stream: str) -> int:
        """An append-only descriptor for the process's stdout or stderr."""
        fd = os.open(self.raw(stream), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.fchown(fd, self.uid, self.uid)
        return fd

    def _load_offsets(self) -> dict[str, int]:
        try:
            data = json.loads(self._offsets_path.read_text())
            return {s: int(data.get(s, 0)) for s in STREAMS}
        except (OSError, ValueError):
            return dict.fromkeys(STREAMS, 0)

    def _save_offsets(self) -> None:
        tmp = self._offsets_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.offsets))
        tmp.replace(self._offsets_path)

    def collect(self) -> int:
        """Move new raw output into the log; returns the number of lines written."""
        written = 0
        for stream in STREAMS:
            written += self._collect(stream)
        return written

    def _collect(self, stream: str) -> int:
        try:
            fd = os.open(self.raw(stream), os.O_RDWR)
        except FileNotFoundError:
            return 0
        try:
            size = os.fstat(fd).st_size
            offset = self.offsets[stream]
            if size < offset:  # truncated by someone: start again
                offset = 0
            if size == offset:
                return 0
            data = os.pread(fd, size - offset, offset)
            self.offsets[stream] = offset + len(data)
            lines = self._lines(stream, data)
            if lines:
                self._append(stream, lines)
            if self.offsets[stream] >= PUNCH_AFTER:
                _punch(fd, self.offsets[stream] - len(self._partial[stream]))
            self._save_offsets()
            return len(lines)
        finally:
            os.close(fd)

    def _lines(self, stream: str, data: bytes) -> list[str]:
        buffer = self._partial[stream] + data.replace(b"\0", b"")
        *complete, rest = buffer.split(b"\n")
        while len(rest) > MAX_LINE:  # a line without end: cut it
            complete.append(rest[:MAX_LINE])
            rest = rest[MAX_LINE:]
        self._partial[stream] = rest
        return [line.decode(errors="replace").rstrip("\r") for line in complete]

    def _append(self, stream: str, lines: list[str]) -> None:
        stamp = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        text = "".join(f"{stamp} {stream} {line}\n" for line in lines)
        with open(self.log, "a", encoding="utf-8") as handle:
            handle.write(text)
            position = handle.tell()
        if position > self.max_bytes:
            os.replace(self.log, self.log.with_suffix(".log.1"))

    def append_output(self, stdout: str, stderr: str) -> None:
        """Log the whole output of a finished command (an exec run as a cron job)."""
        for stream, text in (("stdout", stdout), ("stderr", stderr)):
            lines = text.splitlines()
            if lines:
                self._append(stream, lines)

    def note(self, message: str) -> None:
        """A line from the platform itself (crashes, restarts) in the service's log."""
        self._append("system", [message])

    def tail(self, count: int) -> list[LogLine]:
        lines: list[LogLine] = []
        for path in (self.log, self.log.with_suffix(".log.1")):
            if len(lines) >= count:
                break
            found = list(_parse(self.service, _last_lines(path, count - len(lines))))
            lines = found + lines
        return lines[-count:]


def _last_lines(path: Path, count: int) -> list[str]:
    """The last `count` lines of a file, reading backwards in blocks."""
    try:
        handle = open(path, "rb")  # noqa: SIM115 (closed below; read backwards)
    except FileNotFoundError:
        return []
    with handle:
        handle.seek(0, os.SEEK_END)
        position = handle.tell()
        data = b""
        while position > 0 and data.count(b"\n") <= count:
            step = min(65536, position)
            position -= step
            handle.seek(position)
            data = handle.read(step) + data
    return [line.decode(errors="replace") for line in data.splitlines()[-count:]]


def _parse(service: str, raw_lines: list[str]) -> Iterator[LogLine]:
    for raw in raw_lines:
        stamp, _, rest = raw.partition(" ")
        stream, _, message = rest.partition(" ")
        with contextlib.suppress(ValueError):
            when = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
            yield LogLine(when, service, stream, message)
