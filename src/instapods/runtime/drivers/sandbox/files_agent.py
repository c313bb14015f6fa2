"""The files agent: a program that runs *inside* a pod, as its user, and does the Files API's
work there (standard library only; it runs on the pod's /usr/bin/python3).

The control plane starts it with one end of a Unix socket (fd number in argv[1]) and talks to it
in JSON lines, one request at a time; file contents travel through pipes whose ends come with
the request (SCM_RIGHTS). Since the agent lives in the pod's mount namespace as the pod's user,
the kernel confines every path: a symlink or a rename race resolves inside the pod, never on
the host. On top of that, every directory or file it opens is checked (by the path the kernel
gives for the open descriptor) to lie inside the three roots, and every name below it is
opened relative to that descriptor, so what was checked is what is used.

Writes go to an unnamed file (O_TMPFILE) in the target directory, which is linked and renamed
into place only when every byte arrived and the control plane says "commit"; if anything
fails, or either side dies, the unnamed file simply vanishes.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import fnmatch
import gzip
import hashlib
import json
import os
import secrets
import socket
import stat
import sys
import tarfile
import time
import zlib
from collections.abc import Callable, Iterator
from typing import Any

ROOTS = ("/home/instapod", "/var/www", "/tmp")
CHUNK = 1 << 20
LIST_LIMIT = 100_000
MANIFEST_LIMIT = 100_000
UNPACK_LIMIT = 100_000
STAGING = ".instapods-unpack-"
STALE_SECONDS = 60
DIRECTORY = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC

Message = dict[str, Any]


class Problem(Exception):
    def __init__(self, problem: str, message: str) -> None:
        super().__init__(message)
        self.problem = problem
        self.message = message


ERRNO_PROBLEMS = {
    errno.ENOENT: "not_found",
    errno.EEXIST: "exists",
    errno.ENOTEMPTY: "exists",
    errno.ENOTDIR: "not_a_directory",
    errno.EISDIR: "is_a_directory",
    errno.ENOSPC: "no_space",
    errno.EDQUOT: "no_space",
    errno.EFBIG: "no_space",
    errno.EACCES: "denied",
    errno.EPERM: "denied",
    errno.EROFS: "denied",
    errno.ELOOP: "invalid",
    errno.ENAMETOOLONG: "invalid",
    errno.EINVAL: "invalid",
    errno.EXDEV: "invalid",
}


def problem_of(error: OSError, path: str) -> Problem:
    kind = ERRNO_PROBLEMS.get(error.errno or 0, "invalid")
    reason = os.strerror(error.errno) if error.errno else str(error)
    return Problem(kind, f"{path}: {reason}")


# -- confinement --------------------------------------------------------------------------


def inside(path: str) -> bool:
    return any(path == root or path.startswith(root + "/") for root in ROOTS)


def where(fd: int) -> str:
    """The path the kernel gives for an open descriptor, in the pod's own view."""
    return os.readlink(f"/proc/self/fd/{fd}")


def check(fd: int, path: str) -> None:
    if not inside(where(fd)):
        os.close(fd)
        raise Problem("invalid", f"{path} leads outside {', '.join(ROOTS)}")


def split(path: str) -> tuple[str, list[str]]:
    """A path's root and the names below it (the control plane sent a normal path)."""
    for root in ROOTS:
        if path == root or path.startswith(root + "/"):
            return root, [name for name in path[len(root) :].split("/") if name]
    raise Problem("invalid", f"{path} is not inside {', '.join(ROOTS)}")


def open_dir(path: str, names: list[str] | None = None, create: bool = False) -> int:
    """Open a directory below a root, one name at a time from a checked descriptor (symlinks
    are followed, inside the pod, and the result checked again); `create` makes what is
    missing. `names` overrides the names below the root of `path`."""
    root, below = split(path)
    if names is not None:
        below = names
    fd = os.open(root, DIRECTORY)
    check(fd, path)
    for name in below:
        try:
            try:
                child = os.open(name, DIRECTORY, dir_fd=fd)
            except FileNotFoundError:
                if not create:
                    raise
                with contextlib.suppress(FileExistsError):
                    os.mkdir(name, 0o755, dir_fd=fd)
                child = os.open(name, DIRECTORY, dir_fd=fd)
        except OSError as error:
            os.close(fd)
            raise problem_of(error, path) from None
        os.close(fd)
        check(child, path)
        fd = child
    return fd


def open_parent(path: str, create: bool = False) -> tuple[int, str]:
    """The checked directory holding `path`'s last name, and that name."""
    _, below = split(path)
    if not below:
        raise Problem("invalid", f"{path} is a root of the pod's files")
    return open_dir(path, below[:-1], create), below[-1]


@contextlib.contextmanager
def closing(fd: int) -> Iterator[int]:
    try:
        yield fd
    finally:
        os.close(fd)


# -- the channel ----------------------------------------------------------------------------


class Channel:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""
        self.fds: list[int] = []

    def receive(self) -> tuple[Message | None, int | None]:
        while b"\n" not in self.buffer:
            data, fds, _, _ = socket.recv_fds(self.sock, 65536, 4)
            self.fds += fds
            if not data:
                return None, None
            self.buffer += data
        line, _, self.buffer = self.buffer.partition(b"\n")
        message = json.loads(line)
        fd = self.fds.pop(0) if message.get("fd") and self.fds else None
        for extra in self.fds:  # never more than one per request
            os.close(extra)
        self.fds = []
        return message, fd

    def send(self, message: Message) -> None:
        self.sock.sendall(json.dumps(message).encode() + b"\n")

    def verdict(self) -> bool:
        """Wait for the control plane's "commit" (True) or anything else (False)."""
        message, fd = self.receive()
        if fd is not None:
            os.close(fd)
        return message is not None and message.get("op") == "commit"


# -- operations -----------------------------------------------------------------------------


def display(name: str) -> str:
    """A name as JSON can carry it (bytes that are not UTF-8 are shown replaced)."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def op_list(channel: Channel, request: Message, _: int | None) -> Message:
    path = request["path"]
    try:
        fd = open_dir(path)
    except Problem as problem:
        if problem.problem == "not_found":
            return {"ok": True, "missing": True}
        raise
    entries: list[tuple[str, int, int, float]] = []
    truncated = False
    with closing(fd), os.scandir(fd) as found:
        for entry in found:
            if len(entries) >= LIST_LIMIT:
                truncated = True
                break
            try:
                info = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            entries.append((display(entry.name), info.st_mode, info.st_size, info.st_mtime))
    entries.sort()
    return {"ok": True, "entries": entries, "truncated": truncated}


def open_file(path: str) -> int:
    """Open a regular file for reading (following links inside the pod), checked."""
    parent, name = open_parent(path)
    with closing(parent):
        try:
            fd = os.open(name, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC,
                         dir_fd=parent)  # fmt: skip
        except OSError as error:
            raise problem_of(error, path) from None
    check(fd, path)
    info = os.fstat(fd)
    if stat.S_ISDIR(info.st_mode):
        os.close(fd)
        raise Problem("is_a_directory", f"{path} is a directory")
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise Problem("invalid", f"{path} is not a regular file")
    os.set_blocking(fd, True)
    return fd


def op_read(channel: Channel, request: Message, pipe: int | None) -> Message:
    path = request["path"]
    if pipe is None:
        raise Problem("invalid", "read needs a pipe")
    with closing(pipe):
        fd = open_file(path)
        with closing(fd):
            info = os.fstat(fd)
            channel.send({"ok": True, "size": info.st_size})
            try:
                pump(fd, pipe)
            except BrokenPipeError:
                return {"ok": False, "problem": "invalid", "message": "the reader went away"}
    return {"ok": True, "done": True}


def pump(source: int, target: int) -> int:
    """Copy everything from `source` to `target` (a pipe on one side). Returns the bytes."""
    return move_bytes(source, target, os.splice, (errno.EINVAL, errno.ENOSYS))


def move_bytes(
    source: int,
    target: int,
    in_kernel: Callable[[int, int, int], int],
    unsupported: tuple[int, ...],
) -> int:
    """Copy `source` to its end into `target` with `in_kernel` (splice, copy_file_range), or by
    reading and writing where it answers one of the `unsupported` errors. Returns the bytes."""
    total = 0
    while True:
        try:
            moved = in_kernel(source, target, CHUNK)
        except OSError as error:
            if error.errno not in unsupported:
                raise
            data = os.read(source, CHUNK)
            moved = len(data)
            write_all(target, data)
        if moved == 0:
            return total
        total += moved


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def new_file(directory: int, mode: int = 0o644) -> int:
    return os.open(".", os.O_TMPFILE | os.O_WRONLY | os.O_CLOEXEC, mode, dir_fd=directory)


def place(directory: int, fd: int, name: str, keep_mode: bool = True) -> None:
    """Give an unnamed file its name, replacing what was there atomically (a regular file's
    permissions are kept)."""
    with contextlib.suppress(FileNotFoundError):
        old = os.stat(name, dir_fd=directory, follow_symlinks=False)
        if stat.S_ISDIR(old.st_mode):
            raise Problem("is_a_directory", f"{name} is a directory")
        if keep_mode and stat.S_ISREG(old.st_mode):
            os.fchmod(fd, stat.S_IMODE(old.st_mode))
    temporary = f".{name[:200]}.instapods-{secrets.token_hex(6)}"
    os.link(f"/proc/self/fd/{fd}", temporary, dst_dir_fd=directory, follow_symlinks=True)
    try:
        os.rename(temporary, name, src_dir_fd=directory, dst_dir_fd=directory)
    except OSError:
        os.unlink(temporary, dir_fd=directory)
        raise


def write_target(path: str) -> tuple[int, str]:
    """Where a write of `path` lands: through a symlink to a file inside the roots, else
    the path itself (a dangling or outward link is replaced)."""
    parent, name = open_parent(path, create=True)
    try:
        info = os.stat(name, dir_fd=parent, follow_symlinks=False)
    except FileNotFoundError:
        return parent, name
    if stat.S_ISDIR(info.st_mode):
        os.close(parent)
        raise Problem("is_a_directory", f"{path} is a directory")
    if stat.S_ISLNK(info.st_mode):
        try:
            target = os.open(name, os.O_PATH | os.O_CLOEXEC, dir_fd=parent)
        except OSError:
            return parent, name
        real = where(target)
        is_dir = stat.S_ISDIR(os.fstat(target).st_mode)
        os.close(target)
        if is_dir:
            os.close(parent)
            raise Problem("is_a_directory", f"{path} leads to a directory")
        if inside(real):
            os.close(parent)
            return open_parent(real, create=False)
    return parent, name


def op_write(channel: Channel, request: Message, pipe: int | None) -> Message:
    path = request["path"]
    if pipe is None:
        raise Problem("invalid", "write needs a pipe")
    with closing(pipe):
        parent, name = write_target(path)
        with closing(parent):
            try:
                fd = new_file(parent)
            except OSError as error:
                raise problem_of(error, path) from None
            with closing(fd):
                channel.send({"ok": True, "ready": True})
                try:
                    size = pump(pipe, fd)
                except OSError as error:
                    raise problem_of(error, path) from None
                channel.send({"ok": True, "received": size})
                if not channel.verdict():
                    return {"ok": False, "problem": "invalid", "message": "write cancelled"}
                try:
                    place(parent, fd, name)
                except OSError as error:
                    raise problem_of(error, path) from None
    return {"ok": True, "size": size}


def op_mkdir(channel: Channel, request: Message, _: int | None) -> Message:
    os.close(open_dir(request["path"], create=True))
    return {"ok": True}


def op_remove(channel: Channel, request: Message, _: int | None) -> Message:
    path = request["path"]
    parent, name = open_parent(path)
    with closing(parent):
        remove_at(parent, name, path)
    return {"ok": True}


def remove_at(parent: int, name: str, path: str) -> None:
    try:
        info = os.stat(name, dir_fd=parent, follow_symlinks=False)
        if stat.S_ISDIR(info.st_mode):
            import shutil

            shutil.rmtree(name, dir_fd=parent)
        else:
            os.unlink(name, dir_fd=parent)
    except OSError as error:
        raise problem_of(error, path) from None


def exists_at(parent: int, name: str) -> bool:
    try:
        os.stat(name, dir_fd=parent, follow_symlinks=False)
    except FileNotFoundError:
        return False
    return True


@contextlib.contextmanager
def source_and_target(source: str, target: str, verb: str) -> Iterator[tuple[int, str, int, str]]:
    """The checked parents and names of an existing `source` and a new `target` (its parents
    made), for a move or a copy."""
    if target == source or target.startswith(source + "/"):
        raise Problem("invalid", f"cannot {verb} {source} into itself")
    source_dir, source_name = open_parent(source)
    with closing(source_dir):
        if not exists_at(source_dir, source_name):
            raise Problem("not_found", f"{source}: No such file or directory")
        target_dir, target_name = open_parent(target, create=True)
        with closing(target_dir):
            if exists_at(target_dir, target_name):
                raise Problem("exists", f"{target} already exists")
            yield source_dir, source_name, target_dir, target_name


def op_rename(channel: Channel, request: Message, _: int | None) -> Message:
    old, new = request["old"], request["new"]
    with source_and_target(old, new, "move") as (source, old_name, target, new_name):
        try:
            os.rename(old_name, new_name, src_dir_fd=source, dst_dir_fd=target)
        except OSError as error:
            if error.errno != errno.EXDEV:  # another of the pod's mounts: copy, then remove
                raise problem_of(error, new) from None
            copy_at(source, old_name, target, new_name, new)
            remove_at(source, old_name, old)
    return {"ok": True}


def op_copy(channel: Channel, request: Message, _: int | None) -> Message:
    path = request["destination"]
    with source_and_target(request["source"], path, "copy") as (source, name, target, new_name):
        copy_at(source, name, target, new_name, path)
    return {"ok": True}


def copy_at(source: int, name: str, target: int, new_name: str, path: str) -> None:
    """Copy `name` (a file, a symlink as a symlink, or a tree) to `new_name`: into a hidden
    name first, renamed when whole, removed if anything fails."""
    temporary = f".{new_name[:200]}.instapods-{secrets.token_hex(6)}"
    try:
        copy_entry(source, name, target, temporary)
        os.rename(temporary, new_name, src_dir_fd=target, dst_dir_fd=target)
    except OSError as error:
        with contextlib.suppress(OSError, Problem):
            remove_at(target, temporary, path)
        raise problem_of(error, path) from None


def copy_entry(source: int, name: str, target: int, new_name: str) -> None:
    info = os.stat(name, dir_fd=source, follow_symlinks=False)
    if stat.S_ISLNK(info.st_mode):
        os.symlink(os.readlink(name, dir_fd=source), new_name, dir_fd=target)
    elif stat.S_ISDIR(info.st_mode):
        os.mkdir(new_name, 0o700, dir_fd=target)
        inner = os.open(name, DIRECTORY | os.O_NOFOLLOW, dir_fd=source)
        with closing(inner):
            made = os.open(new_name, DIRECTORY | os.O_NOFOLLOW, dir_fd=target)
            with closing(made):
                for entry in os.listdir(inner):
                    copy_entry(inner, entry, made, entry)
                os.fchmod(made, stat.S_IMODE(info.st_mode) | 0o700)
    elif stat.S_ISREG(info.st_mode):
        flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
        with closing(os.open(name, flags, dir_fd=source)) as reader:
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
            mode = stat.S_IMODE(info.st_mode)
            with closing(os.open(new_name, flags, mode, dir_fd=target)) as writer:
                copy_data(reader, writer)
    # sockets and FIFOs are not copied


def copy_data(reader: int, writer: int) -> None:
    move_bytes(reader, writer, os.copy_file_range, (errno.EXDEV, errno.EINVAL, errno.ENOSYS))


def excluded(name: str, relative: str, patterns: list[str]) -> bool:
    """A pattern with no "/" matches a name at any depth; one with "/" the relative path; a
    leading "/" anchors it to the top ("/build" is build, not src/build)."""
    for pattern in patterns:
        if "/" in pattern:  # name by name, so "*" never crosses a "/"
            steps, names = pattern.lstrip("/").split("/"), relative.split("/")
            hit = len(steps) == len(names) and all(map(fnmatch.fnmatchcase, names, steps))
        else:
            hit = fnmatch.fnmatchcase(name, pattern)
        if hit:
            return True
    return False


def op_manifest(channel: Channel, request: Message, _: int | None) -> Message:
    path, patterns = request["path"], list(request.get("exclude", []))
    try:
        top = open_dir(path)
    except Problem as problem:
        if problem.problem == "not_found":
            return {"ok": True, "files": []}
        raise
    files: list[list[Any]] = []

    def walk(directory: int, prefix: str) -> None:
        for name in sorted(os.listdir(directory)):
            relative = prefix + name
            if excluded(name, relative, patterns) or name.startswith(STAGING):
                continue
            info = os.stat(name, dir_fd=directory, follow_symlinks=False)
            if stat.S_ISDIR(info.st_mode):
                with closing(os.open(name, DIRECTORY | os.O_NOFOLLOW, dir_fd=directory)) as inner:
                    walk(inner, relative + "/")
            elif stat.S_ISREG(info.st_mode):
                if len(files) >= MANIFEST_LIMIT:
                    raise Problem("invalid", f"{path} holds more than {MANIFEST_LIMIT} files")
                flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
                digest = hashlib.sha256()
                with closing(os.open(name, flags, dir_fd=directory)) as fd:
                    while data := os.read(fd, CHUNK):
                        digest.update(data)
                executable = bool(info.st_mode & 0o100)
                files.append([display(relative), info.st_size, digest.hexdigest(), executable])

    with closing(top):
        walk(top, "")
    return {"ok": True, "files": files}


def member_names(name: str) -> list[str]:
    names = [n for n in name.split("/") if n and n != "."]
    if not names or name.startswith("/") or ".." in names or "\x00" in name:
        raise Problem("invalid", f"the archive holds a path outside the target: {name!r}")
    if any(len(n.encode("utf-8", "surrogateescape")) > 255 for n in names):
        raise Problem("invalid", f"the archive holds a name that is too long: {name!r}")
    return names


def op_unpack(channel: Channel, request: Message, pipe: int | None) -> Message:
    """Unpack a tar stream into a hidden staging folder of the target, then (on "commit") check
    every place it goes, remove the `delete` paths and move every file into place."""
    path, delete = request["path"], [str(p) for p in request.get("delete", [])]
    if pipe is None:
        raise Problem("invalid", "unpack needs a pipe")
    deletions = [member_names(p) for p in delete]
    base = split(path)[1]
    with closing(pipe):
        top = open_dir(path, create=True)
        with closing(top):
            remove_stale_staging(top)
            staging_name = STAGING + secrets.token_hex(6)
            os.mkdir(staging_name, 0o700, dir_fd=top)
            try:
                staging = os.open(staging_name, DIRECTORY | os.O_NOFOLLOW, dir_fd=top)
                with closing(staging):
                    fcntl.flock(staging, fcntl.LOCK_EX)  # in use: not stale to another unpack
                    channel.send({"ok": True, "ready": True})
                    files, folders, size = stage(pipe, staging)
                    channel.send({"ok": True, "received": size})
                    if not channel.verdict():
                        return {"ok": False, "problem": "invalid", "message": "unpack cancelled"}
                    preflight(path, base, files, folders, deletions)
                    deleted = sum(remove_below(path, [*base, *names]) for names in deletions)
                    for names in folders:
                        os.close(open_dir(path, [*base, *names], create=True))
                    by_parent: dict[tuple[str, ...], list[tuple[int, str]]] = {}
                    for index, (names, _) in enumerate(files):
                        by_parent.setdefault(tuple(names[:-1]), []).append((index, names[-1]))
                    for parent_names, moves in by_parent.items():
                        parent = open_dir(path, [*base, *parent_names], create=True)
                        with closing(parent):
                            for index, name in moves:
                                move_in(staging, str(index), parent, name, path)
            finally:
                with contextlib.suppress(OSError, Problem):
                    remove_at(top, staging_name, staging_name)
    return {"ok": True, "files": len(files), "directories": len(folders),
            "deleted": deleted, "bytes": size}  # fmt: skip


def remove_stale_staging(top: int) -> None:
    """Remove staging folders an unpack left behind (its agent was killed), but never one in
    use (locked) or just made (not locked yet)."""
    for name in os.listdir(top):
        if not name.startswith(STAGING):
            continue
        try:
            fd = os.open(name, DIRECTORY | os.O_NOFOLLOW, dir_fd=top)
        except OSError:
            continue
        with closing(fd):
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue
            if time.time() - os.fstat(fd).st_mtime < STALE_SECONDS:
                continue
            with contextlib.suppress(OSError, Problem):
                remove_at(top, name, name)


def preflight(
    path: str,
    base: list[str],
    files: list[tuple[list[str], int]],
    folders: list[list[str]],
    deletions: list[list[str]],
) -> None:
    """Check every place an unpack will touch before it touches any: a parent that leads out
    of the roots, a file in the way of a folder or a folder in the way of a file (unless the
    unpack deletes it first)."""
    doomed = {tuple(names) for names in deletions}

    def replaced(names: tuple[str, ...]) -> bool:
        return any(names[:length] in doomed for length in range(1, len(names) + 1))

    leaves: dict[tuple[str, ...], list[str]] = {}  # parent -> the file names going there
    for names, _ in files:
        leaves.setdefault(tuple(names[:-1]), []).append(names[-1])
    parents = set(leaves) | {tuple(n) for n in folders} | {tuple(n[:-1]) for n in deletions}
    for parent in sorted(parents):
        if replaced(parent):
            continue
        try:
            fd = open_dir(path, [*base, *parent])
        except Problem as problem:
            if problem.problem == "not_found":
                continue
            raise
        with closing(fd):
            for name in leaves.get(parent, []):
                if (*parent, name) in doomed:
                    continue
                with contextlib.suppress(FileNotFoundError):
                    if stat.S_ISDIR(os.stat(name, dir_fd=fd, follow_symlinks=False).st_mode):
                        raise Problem(
                            "is_a_directory", f"{'/'.join([*parent, name])} is a directory"
                        )


def remove_below(path: str, names: list[str]) -> int:
    """Remove `names` (below a root) if it exists; 1 if something was removed."""
    try:
        parent = open_dir(path, names[:-1])
    except Problem as problem:
        if problem.problem == "not_found":
            return 0
        raise
    with closing(parent):
        if not exists_at(parent, names[-1]):
            return 0
        remove_at(parent, names[-1], "/".join(names))
    return 1


def stage(pipe: int, staging: int) -> tuple[list[tuple[list[str], int]], list[list[str]], int]:
    files: list[tuple[list[str], int]] = []
    folders: list[list[str]] = []
    size = 0
    stream: Any = os.fdopen(os.dup(pipe), "rb", buffering=CHUNK)
    if stream.peek(2)[:2] == b"\x1f\x8b":  # gzip: zlib in big reads beats tarfile's own
        stream = gzip.GzipFile(fileobj=stream, mode="rb")
    try:
        archive = tarfile.open(fileobj=stream, mode="r|")  # noqa: SIM115 (closed below)
    except (tarfile.TarError, EOFError, OSError) as error:
        stream.close()
        raise Problem("invalid", f"not a tar archive: {error}") from None
    with stream, archive:
        try:
            for member in archive:
                if len(files) + len(folders) >= UNPACK_LIMIT:
                    raise Problem("invalid", f"the archive holds more than {UNPACK_LIMIT} entries")
                names = member_names(member.name)
                if member.isdir():
                    folders.append(names)
                elif member.isreg():
                    mode = 0o755 if member.mode & 0o100 else 0o644
                    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
                    source = archive.extractfile(member)
                    assert source is not None
                    with closing(os.open(str(len(files)), flags, mode, dir_fd=staging)) as fd:
                        while data := source.read(CHUNK):
                            write_all(fd, data)
                    files.append((names, mode))
                    size += member.size
                else:
                    raise Problem(
                        "invalid", f"{member.name} is a link or device; only files and folders"
                    )
        except (tarfile.TarError, EOFError, UnicodeError, gzip.BadGzipFile, zlib.error) as error:
            raise Problem("invalid", f"the archive is damaged: {error}") from None
        except OSError as error:
            raise problem_of(error, "the archive") from None
    return files, folders, size


def move_in(staging: int, staged: str, parent: int, name: str, path: str) -> None:
    """Put a staged file in place (atomically replacing a file; a directory in the way is an
    error)."""
    with contextlib.suppress(FileNotFoundError):
        if stat.S_ISDIR(os.stat(name, dir_fd=parent, follow_symlinks=False).st_mode):
            raise Problem("is_a_directory", f"{path}/{name} is a directory")
    try:
        os.rename(staged, name, src_dir_fd=staging, dst_dir_fd=parent)
    except OSError as error:
        if error.errno != errno.EXDEV:
            raise problem_of(error, f"{path}/{name}") from None
        with closing(os.open(staged, os.O_RDONLY | os.O_CLOEXEC, dir_fd=staging)) as reader:
            fd = new_file(parent, stat.S_IMODE(os.fstat(reader).st_mode))
            with closing(fd):
                copy_data(reader, fd)
                place(parent, fd, name, keep_mode=False)


OPERATIONS = {
    "list": op_list,
    "read": op_read,
    "write": op_write,
    "mkdir": op_mkdir,
    "remove": op_remove,
    "rename": op_rename,
    "copy": op_copy,
    "manifest": op_manifest,
    "unpack": op_unpack,
}


PIPED = ("read", "write", "unpack")  # these take the request's pipe and close it


def serve(channel: Channel) -> None:
    while True:
        request, fd = channel.receive()
        if request is None:
            return
        name = str(request.get("op"))
        operation = OPERATIONS.get(name)
        if fd is not None and (operation is None or name not in PIPED):
            os.close(fd)
            fd = None
        try:
            if operation is None:
                raise Problem("invalid", f"unknown operation {request.get('op')!r}")
            reply = operation(channel, request, fd)
        except Problem as problem:
            reply = {"ok": False, "problem": problem.problem, "message": problem.message}
        except OSError as error:
            found = problem_of(error, str(request.get("path", "")))
            reply = {"ok": False, "problem": found.problem, "message": found.message}
        channel.send(reply)


def main() -> None:
    os.umask(0o022)
    sock = socket.socket(fileno=int(sys.argv[1]))
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        serve(Channel(sock))


if __name__ == "__main__":
    main()
