"""A pod's files, as every runtime offers them (`Driver.files(spec)`).

Paths are absolute paths *of the pod* (`/home/instapod/app/index.js`) and lie inside one of
`ROOTS`. Callers validate them with `pod_path` first; a driver still resolves them inside the
pod (the sandbox driver does every operation in the pod's own mount namespace as its user), so
a link or a race can at worst reach what the pod's own processes can reach. Writes are atomic:
the new content is written under no name and put in place whole, or not at all.
"""

from __future__ import annotations

import abc
import stat
from collections.abc import AsyncIterable, AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from enum import StrEnum

from instapods.runtime.errors import RuntimeDriverError

ROOTS = ("/home/instapod", "/var/www", "/tmp")
MAX_PATH_BYTES = 4096
MAX_NAME_BYTES = 255


class FileProblem(StrEnum):
    NOT_FOUND = "not_found"
    EXISTS = "exists"
    NOT_A_DIRECTORY = "not_a_directory"
    IS_A_DIRECTORY = "is_a_directory"
    NO_SPACE = "no_space"  # the pod's disk is full (the plan's disk)
    DENIED = "denied"  # the pod's user may not do this (permissions inside the pod)
    INVALID = "invalid"  # a path or archive the pod cannot take (outside the roots, bad name)
    BUSY = "busy"  # the pod is changing (stopping, resizing); try again


class FileError(RuntimeDriverError):
    def __init__(self, problem: FileProblem, message: str) -> None:
        super().__init__(message)
        self.problem = problem
        self.message = message


@dataclass(frozen=True)
class FileEntry:
    name: str
    mode: int  # st_mode, of the entry itself (a symlink is a symlink)
    size: int
    mtime: float  # seconds since the epoch

    @property
    def is_dir(self) -> bool:
        return stat.S_ISDIR(self.mode)

    @property
    def permissions(self) -> str:
        return stat.filemode(self.mode)


@dataclass(frozen=True)
class Listing:
    entries: list[FileEntry]
    truncated: bool  # the directory holds more than the listing limit


@dataclass(frozen=True)
class ManifestEntry:
    path: str  # relative to the manifest's root, with "/" separators
    size: int
    sha256: str
    executable: bool


@dataclass(frozen=True)
class Unpacked:
    files: int
    directories: int
    deleted: int
    bytes: int


@dataclass
class Download:
    """An open file of the pod being read: its size, then its bytes in chunks."""

    size: int
    chunks: AsyncIterator[bytes]


def pod_path(value: str) -> str:
    """The normal form of a pod path: absolute, "//" and a trailing "/" folded, inside ROOTS.
    Raises ValueError (with a sentence for the user) for anything else."""
    if not isinstance(value, str) or not value:
        raise ValueError("must be an absolute path")
    if "\x00" in value:
        raise ValueError("must not contain NUL bytes")
    if _utf8_size(value) > MAX_PATH_BYTES:
        raise ValueError(f"must be at most {MAX_PATH_BYTES} bytes")
    if not value.startswith("/"):
        raise ValueError("must be an absolute path (starting with /)")
    parts = [part for part in value.split("/") if part]
    for part in parts:
        if part in (".", ".."):
            raise ValueError("must not contain '.' or '..' segments")
        if len(part.encode("utf-8")) > MAX_NAME_BYTES:
            raise ValueError(f"each name in it must be at most {MAX_NAME_BYTES} bytes")
    normal = "/" + "/".join(parts)
    if not any(normal == root or normal.startswith(root + "/") for root in ROOTS):
        raise ValueError(f"must lie inside {', '.join(ROOTS)}")
    return normal


def file_name(value: str) -> str:
    """A single name (an uploaded file's), checked like a path segment."""
    if not value or value in (".", "..") or "/" in value or "\x00" in value:
        raise ValueError("must be a plain file name (no '/', not '.' or '..')")
    if _utf8_size(value) > MAX_NAME_BYTES:
        raise ValueError(f"must be at most {MAX_NAME_BYTES} bytes")
    return value


def _utf8_size(value: str) -> int:
    try:
        return len(value.encode("utf-8"))
    except UnicodeEncodeError:
        raise ValueError("must be valid UTF-8") from None


def is_root(path: str) -> bool:
    return path in ROOTS


class PodFiles(abc.ABC):
    """The files of one pod. Every method works whether the pod runs or is stopped, and raises
    `FileError` for what the caller can fix (or PodNotFound)."""

    @abc.abstractmethod
    async def listing(self, path: str) -> Listing | None:
        """The entries of a directory (sorted by name), or None when it does not exist."""

    @abc.abstractmethod
    def read(self, path: str) -> AbstractAsyncContextManager[Download]:
        """Open a regular file for reading; the file stays open until the context ends."""

    @abc.abstractmethod
    async def write(self, path: str, chunks: AsyncIterable[bytes]) -> int:
        """Replace (or create, with its parent directories) a file with these bytes, atomically;
        an error or a cancelled write leaves the old file. Returns the size written."""

    @abc.abstractmethod
    async def make_dir(self, path: str) -> None:
        """Create a directory and its parents (nothing if it exists)."""

    @abc.abstractmethod
    async def remove(self, path: str) -> None:
        """Remove a file, a symlink (not its target) or a directory with all it holds."""

    @abc.abstractmethod
    async def rename(self, old: str, new: str) -> None:
        """Move a file or directory; EXISTS if `new` exists."""

    @abc.abstractmethod
    async def copy(self, source: str, destination: str) -> None:
        """Copy a file or a directory tree (symlinks as symlinks); EXISTS if it exists."""

    @abc.abstractmethod
    async def manifest(self, root: str, exclude: Sequence[str]) -> list[ManifestEntry]:
        """Every regular file under `root` with its size and SHA-256, skipping names that match
        an `exclude` pattern (fnmatch, on a name or on the relative path)."""

    @abc.abstractmethod
    async def unpack(
        self, root: str, archive: AsyncIterable[bytes], delete: Sequence[str]
    ) -> Unpacked:
        """Remove `delete` (paths relative to `root`), then write the files of a tar archive
        (optionally gzip-compressed) under `root`, each atomically, once all of it arrived.
        Regular files and directories only; a member outside `root` makes it INVALID before
        anything changes."""
