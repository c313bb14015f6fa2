"""Helpers for the edge tests: ports, a tiny upstream, requests by Host, Caddy's processes."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx

from instapods.config import Settings
from instapods.edge.process import runs_config


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def edge_settings(data_dir: Path, port: int, **changes: object) -> Settings:
    return Settings.model_validate(
        {
            "data_dir": data_dir,
            "port": port,
            "database_url": f"sqlite+aiosqlite:///{data_dir / 'instapods.db'}",
            "public_url": f"http://localhost:{port}",
            "server_name": "edge-test",
            **changes,
        }
    )


@asynccontextmanager
async def upstream(body: str) -> AsyncIterator[str]:
    """An HTTP server on 127.0.0.1 answering `body`, or its request's head at /headers."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            writer.close()
            return
        payload = head if head.split(b" ")[1] == b"/headers" else body.encode()
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(payload), payload)
        )
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    async with server:
        yield f"127.0.0.1:{server.sockets[0].getsockname()[1]}"


async def get(
    port: int, host: str, path: str = "/", headers: dict[str, str] | None = None
) -> httpx.Response:
    """GET through the edge with this Host (only browsers map *.localhost to loopback)."""
    async with httpx.AsyncClient(timeout=10) as client:
        return await client.get(
            f"http://127.0.0.1:{port}{path}", headers={"Host": host, **(headers or {})}
        )


def caddy_pids(config_file: Path) -> list[int]:
    """Every live Caddy started with this data dir's configuration file."""
    pids = [int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit()]
    return [pid for pid in pids if runs_config(pid, config_file)]


def listening_tcp_ports(pid: int) -> set[int]:
    """The TCP ports the process `pid` listens on (from its socket inodes and /proc/net)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        target = str(fd.readlink()) if fd.is_symlink() else ""
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    ports = set()
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports
