"""A sandbox pod's files: the control plane's side of the files agent (files_agent.py).

Each pod gets a small pool of agents, started on the first file operation inside the pod's
sandbox (its mount namespace, its user, its cgroup) and ended after a while unused. One agent
serves one request at a time; contents stream through pipes, so neither side holds a file
whole. An agent whose conversation went wrong (a client that went away, a cancelled request)
is ended rather than reused: its unfinished write vanishes with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import socket
import time
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from instapods.runtime.drivers.sandbox import process
from instapods.runtime.drivers.sandbox.cgroups import PodCgroup
from instapods.runtime.files import (
    Download,
    FileEntry,
    FileError,
    FileProblem,
    Listing,
    ManifestEntry,
    PodFiles,
    Unpacked,
)

PYTHON = "/usr/bin/python3"
AGENT_SOURCE = Path(__file__).with_name("files_agent.py").read_text()
MAX_AGENTS = 4  # per pod: concurrent file operations beyond this wait their turn
IDLE_SECONDS = 30.0
TIMEOUT = 120.0  # for one reply of a quick operation
LONG_TIMEOUT = 1800.0  # copies and unpacking of big trees
CHUNK = 1 << 20
PIPE_SIZE = 1 << 20

Builder = Callable[[dict[str, int], int], list[str]]
T = TypeVar("T")


class AgentGone(Exception):
    """The agent ended mid-conversation (the pod was stopped, or it was killed)."""


class Refused(FileError):
    """The agent answered a request with a problem: the conversation ended cleanly."""


class Agent:
    """One running files agent and the socket to it."""

    def __init__(
        self, proc: asyncio.subprocess.Process, launched: process.Launched, sock: socket.socket
    ) -> None:
        self.proc = proc
        self.launched = launched
        self.sock = sock
        self.buffer = b""
        self.broken = False
        self.last_used = time.monotonic()

    @property
    def usable(self) -> bool:
        return not self.broken and self.proc.returncode is None

    async def send(self, message: dict[str, Any], fd: int | None = None) -> None:
        data = json.dumps({**message, "fd": fd is not None}).encode() + b"\n"
        loop = asyncio.get_running_loop()
        try:
            if fd is not None:
                while True:
                    try:
                        sent = socket.send_fds(self.sock, [data], [fd])
                        break
                    except BlockingIOError:
                        await _ready(loop.add_writer, loop.remove_writer, self.sock.fileno())
                data = data[sent:]
            if data:
                await loop.sock_sendall(self.sock, data)
        except OSError as error:
            self.broken = True
            raise AgentGone(str(error)) from None

    async def receive(self, timeout: float = TIMEOUT) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while b"\n" not in self.buffer:
            remaining = deadline - loop.time()
            try:
                chunk = await asyncio.wait_for(loop.sock_recv(self.sock, 1 << 20), remaining)
            except (OSError, TimeoutError) as error:
                self.broken = True
                raise AgentGone(str(error) or "no answer in time") from None
            if not chunk:
                self.broken = True
                raise AgentGone("the files agent ended")
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        reply: dict[str, Any] = json.loads(line)
        return reply

    async def expect(self, timeout: float = TIMEOUT) -> dict[str, Any]:
        """The next reply, raising its problem if it reports one."""
        reply = await self.receive(timeout)
        if not reply.get("ok"):
            try:
                problem = FileProblem(str(reply.get("problem")))
            except ValueError:
                problem = FileProblem.INVALID
            raise Refused(problem, str(reply.get("message", "the operation failed")))
        return reply

    async def close(self) -> None:
        self.broken = True
        self.sock.close()
        await process.terminate(self.launched, grace=0)
        with contextlib.suppress(ProcessLookupError):
            await self.proc.wait()


async def start_agent(build: Builder, cgroup: PodCgroup, errors: Path) -> Agent:
    """Start an agent inside the pod (joined to its cgroup before it runs)."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    gate = process.Gate(None)
    err = os.open(errors, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
    try:
        if os.fstat(err).st_size > 1 << 20:
            os.ftruncate(err, 0)
        proc = await asyncio.create_subprocess_exec(
            *build(gate.fds, theirs.fileno()),
            pass_fds=(*gate.fds.values(), theirs.fileno()),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=err,
        )
    except BaseException:
        gate.spawned()
        gate.abandon()
        ours.close()
        raise
    finally:
        os.close(err)
        theirs.close()
    gate.spawned()
    try:
        launched = await asyncio.to_thread(gate.release, proc.pid, cgroup)
    except BaseException:
        gate.abandon()
        ours.close()
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        raise
    ours.setblocking(False)
    return Agent(proc, launched, ours)


class AgentPool:
    """The agents of one pod: up to MAX_AGENTS, started on demand, ended when idle.

    The bookkeeping never awaits, so a request cancelled at any point (a client that went away)
    cannot leak a slot; agents that are done for are ended in the background."""

    def __init__(self, start: Callable[[], Awaitable[Agent]]) -> None:
        self.start = start
        self.idle: list[Agent] = []
        self.slots = asyncio.Semaphore(MAX_AGENTS)
        self.paused = False
        self.closing: set[asyncio.Task[None]] = set()

    @contextlib.asynccontextmanager
    async def agent(self) -> AsyncIterator[Agent]:
        if self.paused:
            raise FileError(FileProblem.BUSY, "The pod's disk is being resized; try again")
        await self.slots.acquire()
        try:
            agent = self._idle_agent() or await self.start()
        except BaseException:
            self.slots.release()
            raise
        try:
            yield agent
        except Refused:
            raise  # the agent answered and waits for the next request
        except BaseException:
            agent.broken = True
            raise
        finally:
            self.slots.release()
            if agent.usable and not self.paused:
                agent.last_used = time.monotonic()
                self.idle.append(agent)
            else:
                self._end(agent)

    def _idle_agent(self) -> Agent | None:
        while self.idle:
            agent = self.idle.pop()
            if agent.usable:
                return agent
            self._end(agent)
        return None

    def _end(self, agent: Agent) -> None:
        task = asyncio.ensure_future(agent.close())
        self.closing.add(task)
        task.add_done_callback(self.closing.discard)

    async def reap(self, idle_for: float = IDLE_SECONDS) -> None:
        """End agents unused for `idle_for` seconds (and wait until they are gone)."""
        now = time.monotonic()
        old = [a for a in self.idle if now - a.last_used > idle_for or not a.usable]
        self.idle = [a for a in self.idle if a not in old]
        for agent in old:
            self._end(agent)
        if self.closing:
            await asyncio.gather(*self.closing, return_exceptions=True)

    async def close_idle(self) -> None:
        await self.reap(idle_for=-1)


class SandboxFiles(PodFiles):
    def __init__(self, pool: AgentPool) -> None:
        self.pool = pool

    async def _call(self, message: dict[str, Any], timeout: float = TIMEOUT) -> dict[str, Any]:
        async with self.pool.agent() as agent:
            await agent.send(message)
            return await agent.expect(timeout)

    async def listing(self, path: str) -> Listing | None:
        reply = await _gone_is_busy(self._call({"op": "list", "path": path}))
        if reply.get("missing"):
            return None
        entries = [
            FileEntry(name=name, mode=mode, size=size, mtime=mtime)
            for name, mode, size, mtime in reply["entries"]
        ]
        return Listing(entries=entries, truncated=bool(reply.get("truncated")))

    @contextlib.asynccontextmanager
    async def read(self, path: str) -> AsyncIterator[Download]:
        async with self.pool.agent() as agent:
            reader, writer = _pipe(ours="r")
            try:
                try:
                    await agent.send({"op": "read", "path": path}, writer)
                finally:
                    os.close(writer)
                head = await _gone_is_busy(agent.expect())
                finished = False

                async def chunks() -> AsyncIterator[bytes]:
                    nonlocal finished
                    while chunk := await _read(reader):
                        yield chunk
                    finished = True

                try:
                    yield Download(size=int(head["size"]), chunks=chunks())
                except BaseException:
                    agent.broken = True  # whatever went wrong, it is mid-conversation
                    raise
            finally:
                os.close(reader)
            if finished:
                await _gone_is_busy(agent.expect())
            else:
                agent.broken = True  # it is still writing into a pipe nobody reads

    async def write(self, path: str, chunks: AsyncIterable[bytes]) -> int:
        reply = await self._stream({"op": "write", "path": path}, chunks, TIMEOUT)
        return int(reply["size"])

    async def unpack(
        self, root: str, archive: AsyncIterable[bytes], delete: Sequence[str]
    ) -> Unpacked:
        message = {"op": "unpack", "path": root, "delete": list(delete)}
        reply = await self._stream(message, archive, LONG_TIMEOUT)
        return Unpacked(files=int(reply["files"]), directories=int(reply["directories"]),
                        deleted=int(reply["deleted"]), bytes=int(reply["bytes"]))  # fmt: skip

    async def _stream(
        self, message: dict[str, Any], chunks: AsyncIterable[bytes], timeout: float
    ) -> dict[str, Any]:
        """Send `chunks` to the agent through a pipe; commit only when all of it arrived."""
        async with self.pool.agent() as agent:
            reader, writer = _pipe(ours="w")
            try:
                await agent.send(message, reader)
            except BaseException:
                os.close(writer)
                raise
            finally:
                os.close(reader)
            try:
                await _gone_is_busy(agent.expect())  # the target is valid and open
                try:
                    async for chunk in chunks:
                        await _write(writer, chunk)
                except BrokenPipeError:  # the agent stopped reading: its reply says why
                    os.close(writer)
                    writer = -1
                    await _gone_is_busy(agent.expect())
                    raise FileError(FileProblem.BUSY, "The files agent stopped reading") from None
                except BaseException:
                    agent.broken = True  # the caller's bytes failed: never commit
                    raise
            finally:
                if writer >= 0:
                    os.close(writer)
            await _gone_is_busy(agent.expect(timeout))  # everything was received
            await agent.send({"op": "commit"})
            return await _gone_is_busy(agent.expect(timeout))

    async def make_dir(self, path: str) -> None:
        await _gone_is_busy(self._call({"op": "mkdir", "path": path}))

    async def remove(self, path: str) -> None:
        await _gone_is_busy(self._call({"op": "remove", "path": path}, LONG_TIMEOUT))

    async def rename(self, old: str, new: str) -> None:
        await _gone_is_busy(self._call({"op": "rename", "old": old, "new": new}, LONG_TIMEOUT))

    async def copy(self, source: str, destination: str) -> None:
        message = {"op": "copy", "source": source, "destination": destination}
        await _gone_is_busy(self._call(message, LONG_TIMEOUT))

    async def manifest(self, root: str, exclude: Sequence[str]) -> list[ManifestEntry]:
        message = {"op": "manifest", "path": root, "exclude": list(exclude)}
        reply = await _gone_is_busy(self._call(message, LONG_TIMEOUT))
        return [
            ManifestEntry(path=path, size=size, sha256=digest, executable=executable)
            for path, size, digest, executable in reply["files"]
        ]


async def _gone_is_busy(work: Awaitable[T]) -> T:
    try:
        return await work
    except AgentGone:
        raise FileError(
            FileProblem.BUSY,
            "The pod's files agent ended (the pod may be stopping, or out of memory or "
            "processes); try again",
        ) from None


def _pipe(ours: str) -> tuple[int, int]:
    """A pipe (reader, writer) whose `ours` end ("r" or "w") does not block; the agent's
    end, sent to it, does."""
    reader, writer = os.pipe2(os.O_CLOEXEC)
    os.set_blocking(reader if ours == "r" else writer, False)
    with contextlib.suppress(OSError):
        fcntl.fcntl(writer, fcntl.F_SETPIPE_SZ, PIPE_SIZE)
    return reader, writer


async def _ready(add: Callable[..., None], remove: Callable[[int], object], fd: int) -> None:
    future: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def wake() -> None:
        if not future.done():
            future.set_result(None)

    add(fd, wake)
    try:
        await future
    finally:
        remove(fd)


async def _read(fd: int) -> bytes:
    """Read what the pipe (our end non-blocking) holds, up to CHUNK, waiting in the loop."""
    loop = asyncio.get_running_loop()
    while True:
        try:
            return os.read(fd, CHUNK)
        except BlockingIOError:
            await _ready(loop.add_reader, loop.remove_reader, fd)


async def _write(fd: int, data: bytes) -> None:
    """Write all of `data` into the pipe (our end non-blocking), waiting in the loop."""
    loop = asyncio.get_running_loop()
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view) :]
        except BlockingIOError:
            await _ready(loop.add_writer, loop.remove_writer, fd)


def agent_argv(socket_fd: int) -> list[str]:
    return [PYTHON, "-I", "-c", AGENT_SOURCE, str(socket_fd)]
