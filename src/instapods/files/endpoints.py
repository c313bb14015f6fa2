"""The Files API: /api/pods/{name}/files… and /folders."""

from __future__ import annotations

import json
import posixpath
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any, cast
from urllib.parse import quote

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import StreamingResponse

from instapods.errors import BadRequest, PayloadTooLarge, ValidationFailed
from instapods.files.multipart import FormStream
from instapods.files.schemas import (
    APP_ROOT,
    ContentIn,
    ContentOut,
    CopiedOut,
    CopyIn,
    FilesOut,
    ManifestFileOut,
    ManifestOut,
    PathIn,
    PathStatus,
    PodPath,
    RenamedOut,
    RenameIn,
    UnpackedOut,
    UploadedOut,
)
from instapods.files.service import TEXT_LIMIT, Files, files_of
from instapods.pods.endpoints import CallerDep
from instapods.runtime.files import Download, file_name, pod_path
from instapods.system.openapi import errors

router = APIRouter(
    prefix="/api/pods/{name}",
    tags=["files"],
    responses=errors(
        e403="The role, or the pod's own permissions, do not allow it",
        e404="No such pod (in the current team) or file",
        e409="The target exists, or the pod is busy (creating, deleting, stopping)",
        e413="Too large: the file, the content, or more than the pod's disk holds",
    ),
)

PathQuery = Annotated[PodPath, Query(description="An absolute path inside the pod")]
MAX_EXCLUDES = 200
MAX_DELETES = 100_000


@router.get("/files", response_model=FilesOut)
async def list_files(name: str, who: CallerDep, path: PathQuery = APP_ROOT) -> Response:
    """A directory's entries; a directory that does not exist lists as empty."""
    files = await files_of(who, name, change=False)
    listing = await files.listing(path)
    # Built by hand: a model per entry costs more than the listing itself (10,000 entries).
    entries = [
        {
            "name": e.name,
            "permissions": e.permissions,
            "size": str(e.size),
            "is_dir": e.is_dir,
            "modified_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(e.mtime)),
        }
        for e in listing.entries
    ]
    body = {"path": path, "files": entries, "truncated": listing.truncated}
    return Response(json.dumps(body, ensure_ascii=False), media_type="application/json")


@router.get("/files/content")
async def read_content(name: str, who: CallerDep, path: PathQuery) -> ContentOut:
    """A text file's content (UTF-8, up to 10 MB; use download for anything else)."""
    files = await files_of(who, name, change=False)
    return ContentOut(path=path, content=await files.read_text(path))


@router.put("/files/content")
async def write_content(name: str, body: ContentIn, who: CallerDep) -> PathStatus:
    """Save a text file (parent directories are created), replacing it atomically."""
    files = await files_of(who, name, change=True)
    try:
        data = body.content.encode("utf-8")
    except UnicodeEncodeError:
        raise BadRequest("The content is not valid Unicode text (a lone surrogate)") from None
    if len(data) > TEXT_LIMIT:
        raise PayloadTooLarge(f"The content is larger than {TEXT_LIMIT} bytes; use files/upload")
    await files.write(body.path, _once(data), "file_saved")
    return PathStatus(status="saved", path=body.path)


@router.post(
    "/files/upload",
    openapi_extra={"requestBody": {"required": True, "content": {"multipart/form-data": {
        "schema": {"type": "object", "required": ["file"], "properties": {
            "file": {"type": "string", "format": "binary"},
            "path": {"type": "string", "description": "Target directory (default the app root)"},
        }}}}}},
)  # fmt: skip
async def upload(
    name: str,
    request: Request,
    who: CallerDep,
    path: Annotated[PodPath | None, Query(description="Target directory")] = None,
) -> UploadedOut:
    """Upload one file (multipart field `file`, up to 32 MB) into the directory `path`
    (a form field sent before the file, or a query parameter). It streams into the pod."""
    files = await files_of(who, name, change=True)
    limit = who.platform.settings.max_upload_bytes
    stream = FormStream(request, "file", limit)
    form = await stream.start()
    if form.filename is None:
        raise BadRequest("Send the file in a multipart field named 'file' (with a filename)")
    directory = path or form.one("path")
    if directory is None:
        form = await stream.spool_rest()
        directory = form.one("path") or APP_ROOT
    target = _checked("path", lambda: pod_path(directory))
    leaf = _checked("file", lambda: file_name(form.filename or ""))
    target = _checked("path", lambda: pod_path(posixpath.join(target, leaf)))
    size = await files.write(target, stream.chunks(), "file_uploaded")
    return UploadedOut(status="uploaded", path=target, size=size)


@router.get(
    "/files/download",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/octet-stream": {}}}},
)
async def download(name: str, who: CallerDep, path: PathQuery) -> StreamingResponse:
    """A file's raw bytes, streamed, as an attachment."""
    files = await files_of(who, name, change=False)
    body = _download(files, path)
    head = cast(Download, await anext(body))  # the file is open from here on
    await files.downloaded(path, head.size)
    filename = posixpath.basename(path)
    return StreamingResponse(
        cast(AsyncIterator[bytes], body),
        media_type="application/octet-stream",
        headers={
            "Content-Length": str(head.size),
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(filename, safe='')}",
            "Cache-Control": "no-store",
        },
    )


async def _download(files: Files, path: str) -> AsyncIterator[Download | bytes]:
    """The file's head, then its bytes: exactly the size announced (a file that grows while
    it is read is cut there; one that shrinks ends the response short)."""
    async with files.open(path) as download:
        yield download
        left = download.size
        async for chunk in download.chunks:
            if left <= 0:
                break
            yield chunk[:left]
            left -= len(chunk)


@router.delete("/files")
async def delete_file(name: str, who: CallerDep, path: PathQuery) -> PathStatus:
    """Delete a file, a symlink, or a directory with everything in it."""
    files = await files_of(who, name, change=True)
    await files.remove(path)
    return PathStatus(status="deleted", path=path)


@router.post("/files/rename")
async def rename_file(name: str, body: RenameIn, who: CallerDep) -> RenamedOut:
    """Move a file or directory; 409 if the new path exists."""
    files = await files_of(who, name, change=True)
    await files.rename(body.old_path, body.new_path)
    return RenamedOut(status="renamed", old_path=body.old_path, new_path=body.new_path)


@router.post("/files/copy")
async def copy_file(name: str, body: CopyIn, who: CallerDep) -> CopiedOut:
    """Copy a file or directory (recursively; symlinks stay symlinks); 409 if it exists."""
    files = await files_of(who, name, change=True)
    await files.copy(body.source_path, body.destination_path)
    return CopiedOut(status="copied", source_path=body.source_path,
                     destination_path=body.destination_path)  # fmt: skip


@router.post("/folders")
async def create_folder(name: str, body: PathIn, who: CallerDep) -> PathStatus:
    """Create a directory and its parents."""
    files = await files_of(who, name, change=True)
    await files.make_dir(body.path)
    return PathStatus(status="created", path=body.path)


@router.get("/files/manifest")
async def manifest(
    name: str,
    who: CallerDep,
    path: PathQuery = APP_ROOT,
    exclude: Annotated[list[str] | None, Query(max_length=MAX_EXCLUDES)] = None,
) -> ManifestOut:
    """Every file under `path` with its size and SHA-256 (what `deploy` compares against);
    `exclude` patterns (fnmatch) skip names or relative paths."""
    files = await files_of(who, name, change=False)
    patterns = [p for p in exclude or [] if p and len(p) <= 1000]
    found = await files.manifest(path, patterns)
    return ManifestOut(path=path, files=[
        ManifestFileOut(path=e.path, size=e.size, sha256=e.sha256, executable=e.executable)
        for e in found
    ])  # fmt: skip


@router.post(
    "/files/unpack",
    openapi_extra={"requestBody": {"required": True, "content": {"multipart/form-data": {
        "schema": {"type": "object", "required": ["archive"], "properties": {
            "path": {"type": "string", "description": "Target directory (default the app root)"},
            "delete": {"type": "array", "items": {"type": "string"},
                       "description": "Paths relative to `path` to remove first"},
            "archive": {"type": "string", "format": "binary",
                        "description": "A tar archive, optionally gzip-compressed"},
        }}}}}},
)  # fmt: skip
async def unpack(name: str, request: Request, who: CallerDep) -> UnpackedOut:
    """Remove the `delete` paths and write a tar(.gz) of files into `path`, in one request:
    the archive is unpacked inside the pod into a staging folder, and nothing changes until
    all of it arrived intact."""
    files = await files_of(who, name, change=True)
    stream = FormStream(request, "archive", who.platform.settings.max_archive_bytes)
    form = await stream.start()
    if form.filename is None:
        raise BadRequest("Send the archive in a multipart field named 'archive'")
    if "path" not in form.fields:
        form = await stream.spool_rest()
    target = _checked("path", lambda: pod_path(form.one("path") or APP_ROOT))
    delete = form.fields.get("delete", [])
    if len(delete) > MAX_DELETES:
        raise BadRequest(f"At most {MAX_DELETES} paths to delete")
    for item in delete:
        _checked("delete", lambda item=item: _relative(item))
    result = await files.unpack(target, stream.chunks(), delete)
    return UnpackedOut(status="unpacked", path=target, files=result.files,
                       directories=result.directories, deleted=result.deleted,
                       bytes=result.bytes)  # fmt: skip


def _relative(value: str) -> str:
    names = value.split("/")
    if not value or value.startswith("/") or ".." in names or "\x00" in value:
        raise ValueError(f"{value!r} must be a path relative to the target, without '..'")
    return value


def _checked(field: str, check: Any) -> str:
    try:
        return str(check())
    except ValueError as error:
        raise ValidationFailed(
            f"Invalid {field}: {error}", details=[{"field": field, "message": str(error)}]
        ) from None


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data
