"""The Files API's rules: who may touch which pod's files, what a runtime error means to the
client, and the event every change leaves ("who changed which file").

Confinement is not done here: paths are checked for form (`runtime.files.pod_path`) and the
runtime does the operation inside the pod (see docs/architecture.md, "Files").
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterable, AsyncIterator, Iterator, Sequence

from instapods.errors import AppError, BadRequest, Conflict, Forbidden, NotFound, PayloadTooLarge
from instapods.models import Pod
from instapods.pods import runtime_view
from instapods.pods.service import Caller, find, find_for_change, record
from instapods.runtime.errors import PodNotFound, RuntimeDriverError
from instapods.runtime.files import (
    Download,
    FileError,
    FileProblem,
    Listing,
    ManifestEntry,
    PodFiles,
    Unpacked,
    is_root,
)

TEXT_LIMIT = 10 * 1024 * 1024  # files/content reads and writes; bigger files use download


class Files:
    """One pod's files, for one caller."""

    def __init__(self, caller: Caller, pod: Pod, files: PodFiles) -> None:
        self.caller = caller
        self.pod = pod
        self.files = files

    async def record(self, type_: str, message: str) -> None:
        await record(self.caller, self.pod, type_, message[:1000])

    @contextlib.contextmanager
    def translated(self) -> Iterator[None]:
        """Turn the runtime's file errors into the API's."""
        try:
            yield
        except FileError as error:
            raise _app_error(self.pod, error) from None
        except PodNotFound:
            raise Conflict(f"Pod {self.pod.name} has no files on this server yet") from None
        except RuntimeDriverError as error:  # the files agent could not start in the pod
            raise Conflict(f"The files of pod {self.pod.name} cannot be reached: {error}") from None

    async def listing(self, path: str) -> Listing:
        with self.translated():
            listing = await self.files.listing(path)
        return listing or Listing(entries=[], truncated=False)

    @contextlib.asynccontextmanager
    async def open(self, path: str) -> AsyncIterator[Download]:
        with self.translated():
            async with self.files.read(path) as download:
                yield download

    async def read_text(self, path: str) -> str:
        async with self.open(path) as download:
            if download.size > TEXT_LIMIT:
                raise PayloadTooLarge(
                    f"{path} is {download.size} bytes, more than the {TEXT_LIMIT} bytes "
                    "files/content shows; use files/download"
                )
            data = bytearray()
            async for chunk in download.chunks:
                data += chunk
                if len(data) > TEXT_LIMIT:  # it grew while we read it
                    raise PayloadTooLarge(f"{path} is larger than {TEXT_LIMIT} bytes; "
                                          "use files/download")  # fmt: skip
        if b"\x00" in data:
            raise BadRequest(f"{path} is a binary file; use files/download")
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise BadRequest(f"{path} is not UTF-8 text; use files/download") from None

    async def write(self, path: str, chunks: AsyncIterable[bytes], event: str) -> int:
        with self.translated():
            size = await self.files.write(path, chunks)
        verb = "Uploaded" if event == "file_uploaded" else "Saved"
        await self.record(event, f"{verb} {path} ({size} bytes)")
        return size

    async def make_dir(self, path: str) -> None:
        with self.translated():
            await self.files.make_dir(path)
        await self.record("folder_created", f"Created folder {path}")

    async def remove(self, path: str) -> None:
        if is_root(path):
            raise BadRequest(f"{path} is a root of the pod's files and cannot be deleted")
        with self.translated():
            await self.files.remove(path)
        await self.record("file_deleted", f"Deleted {path}")

    async def rename(self, old: str, new: str) -> None:
        if is_root(old) or is_root(new):
            raise BadRequest("A root of the pod's files cannot be renamed or replaced")
        with self.translated():
            await self.files.rename(old, new)
        await self.record("file_renamed", f"Renamed {old} to {new}")

    async def copy(self, source: str, destination: str) -> None:
        if is_root(destination):
            raise BadRequest(f"{destination} is a root of the pod's files; copy into it instead")
        with self.translated():
            await self.files.copy(source, destination)
        await self.record("file_copied", f"Copied {source} to {destination}")

    async def manifest(self, path: str, exclude: Sequence[str]) -> list[ManifestEntry]:
        with self.translated():
            return await self.files.manifest(path, exclude)

    async def unpack(
        self, path: str, archive: AsyncIterable[bytes], delete: Sequence[str]
    ) -> Unpacked:
        with self.translated():
            result = await self.files.unpack(path, archive, delete)
        await self.record(
            "files_unpacked",
            f"Unpacked {result.files} files ({result.bytes} bytes) into {path}"
            + (f", deleted {result.deleted}" if result.deleted else ""),
        )
        return result

    async def downloaded(self, path: str, size: int) -> None:
        await self.record("file_downloaded", f"Downloaded {path} ({size} bytes)")


async def files_of(caller: Caller, name: str, *, change: bool) -> Files:
    """The pod's files if the caller may see (or, with `change`, change) them."""
    pod = await (find_for_change(caller, name) if change else find(caller, name))
    if pod.status in ("creating", "deleting"):
        raise Conflict(f"Pod {name} is {pod.status}; try again in a moment")
    spec = runtime_view.bare_spec(caller.platform, pod)
    try:
        return Files(caller, pod, caller.platform.runtime.files(spec))
    except PodNotFound:
        raise Conflict(f"Pod {name} has no files on this server yet") from None


def _app_error(pod: Pod, error: FileError) -> AppError:
    message = error.message
    match error.problem:
        case FileProblem.NOT_FOUND:
            return NotFound(message)
        case FileProblem.EXISTS:
            return Conflict(message)
        case FileProblem.NO_SPACE:
            return PayloadTooLarge(
                f"Not enough space on the pod's disk ({pod.disk_gb} GB on the {pod.plan_slug} "
                "plan); nothing was written"
            )
        case FileProblem.DENIED:
            return Forbidden(message)
        case FileProblem.BUSY:
            return Conflict(message)
        case _:
            return BadRequest(message)
