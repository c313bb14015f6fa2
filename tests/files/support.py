"""Helpers of the Files API tests: multipart bodies built by hand (so the order of their parts
is the test's to choose), tar archives, and short calls of the API."""

from __future__ import annotations

import io
import secrets
import tarfile
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import httpx

from tests.fixtures.errors import error_of
from tests.fixtures.http import Client
from tests.pods.support import Body, sh

APP = "/home/instapod/app"
MIB = 1024 * 1024

# (field name, filename or None for a text field, content)
Part = tuple[str, str | None, bytes]


def multipart(parts: Sequence[Part], boundary: str | None = None) -> tuple[bytes, dict[str, str]]:
    """A multipart/form-data body with these parts in this order, and its Content-Type."""
    boundary = boundary or f"instapods-{secrets.token_hex(8)}"
    body = bytearray()
    for name, filename, content in parts:
        body += f"--{boundary}\r\n".encode()
        disposition = f'form-data; name="{name}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        body += f"Content-Disposition: {disposition}\r\n".encode()
        if filename is not None:
            body += b"Content-Type: application/octet-stream\r\n"
        body += b"\r\n" + content + b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    return bytes(body), {"Content-Type": f"multipart/form-data; boundary={boundary}"}


async def upload(
    api: Client,
    pod: str,
    parts: Sequence[Part],
    params: dict[str, str] | None = None,
    route: str = "files/upload",
) -> httpx.Response:
    body, headers = multipart(parts)
    return await api.post(f"/api/pods/{pod}/{route}", content=body, headers=headers, params=params)


async def chunked(data: bytes, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    """`data` as a streamed request body (no Content-Length unless the caller sets one)."""
    for start in range(0, len(data), size):
        yield data[start : start + size]


def targz(
    members: Mapping[str, bytes | None], mode: int = 0o644, links: Mapping[str, str] | None = None
) -> bytes:
    """A gzip-compressed tar of these members (None: a directory) and symlinks (name: target),
    names kept as given."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, target in (links or {}).items():
            link = tarfile.TarInfo(name)
            link.type = tarfile.SYMTYPE
            link.linkname = target
            archive.addfile(link)
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            if content is None:
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
                archive.addfile(info)
            else:
                info.size = len(content)
                info.mode = mode
                archive.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def ok(response: httpx.Response, status: int = 200) -> Any:
    """The JSON body of a response that must have this status."""
    assert response.status_code == status, response.text
    return response.json()


def fails(response: httpx.Response, status: int, *words: str) -> str:
    """The error sentence of a response that must fail with `status`, naming every word."""
    assert response.status_code == status, response.text
    error = error_of(response.json())
    for word in words:
        assert word in error, (word, error)
    return error


async def put(api: Client, pod: str, path: str, content: str) -> Body:
    body = {"path": path, "content": content}
    response = await api.put(f"/api/pods/{pod}/files/content", json=body)
    saved: Body = ok(response)
    return saved


async def names(api: Client, pod: str, path: str = APP) -> list[str]:
    """The names a directory lists through the API."""
    body = ok(await api.get(f"/api/pods/{pod}/files", params={"path": path}))
    return [str(entry["name"]) for entry in body["files"]]


async def ls(api: Client, pod: str, path: str = APP) -> str:
    """Every entry of a directory, hidden ones too, as the pod's own `ls` sees them."""
    return await sh(api, pod, f"ls -A1 {path}")


async def events(api: Client, pod: str, types: str) -> list[Body]:
    """The pod's events of these types (comma-separated; in no order to rely on: events of
    the same second are not ordered)."""
    response = await api.get(f"/api/pods/{pod}/events", params={"type": types, "limit": 100})
    found: list[Body] = ok(response)["events"]
    return found
