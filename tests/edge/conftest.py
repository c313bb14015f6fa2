"""Fixtures: a short data dir (Unix socket paths are limited to 107 bytes) and a real edge."""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from instapods.config import Settings
from instapods.edge.server import EdgeServer
from instapods.supervisor import ApiServer
from tests.edge.support import caddy_pids, edge_settings, free_port


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """A data dir under /tmp; any Caddy still running on it at the end is killed by PID."""
    root = Path(tempfile.mkdtemp(prefix="ipe-"))
    root.chmod(0o711)  # pod users must be able to reach the pods dir inside
    try:
        yield root / "data"
    finally:
        for pid in caddy_pids((root / "data" / "run" / "caddy.json").resolve()):
            os.kill(pid, signal.SIGKILL)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def settings(data_dir: Path) -> Settings:
    return edge_settings(data_dir, free_port())


@pytest.fixture
async def edge_server(settings: Settings) -> AsyncIterator[EdgeServer]:
    """Caddy started by the edge component, with no API behind it."""
    server = EdgeServer(settings)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@dataclass
class Stack:
    settings: Settings
    api: ApiServer
    edge: EdgeServer

    @property
    def port(self) -> int:
        return self.settings.port


@pytest.fixture
async def stack(settings: Settings) -> AsyncIterator[Stack]:
    """The API on its socket and the edge in front of it, as `instapods server` runs them."""
    api, edge = ApiServer(settings), EdgeServer(settings)
    await api.start()
    try:
        await edge.start()
        try:
            yield Stack(settings, api, edge)
        finally:
            await edge.stop()
    finally:
        await api.stop()
