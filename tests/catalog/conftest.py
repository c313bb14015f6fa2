"""Catalog fixtures: a client for an app started with settings of the test's choosing."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from instapods.config import Settings
from tests.fixtures.factories import running_app
from tests.fixtures.http import Client

Serve = Callable[..., AbstractAsyncContextManager[Client]]


@pytest.fixture
def serve(tmp_path: Path, database_url: str) -> Serve:
    """`async with serve(max_pods=3) as client:` runs the app with those settings."""

    @asynccontextmanager
    async def serving(**overrides: Any) -> AsyncIterator[Client]:
        values: dict[str, Any] = {
            "data_dir": tmp_path / "data",
            "database_url": database_url,
            "server_name": "test-server",
            **overrides,
        }
        settings = Settings(**values)
        async with running_app(settings) as app, Client.for_app(app) as client:
            yield client

    return serving
