"""Shared fixtures: a real database (SQLite and PostgreSQL), the app, clients and users.

Every API test that takes `client` runs twice, once per database backend. PostgreSQL is the
server on this machine (127.0.0.1:5432, user postgres); each xdist worker gets a database of
its own, created at start and dropped at the end, and its tables are emptied before each test.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI

from instapods.config import Settings
from tests.fixtures import postgres, sandbox
from tests.fixtures.factories import Factory, running_app
from tests.fixtures.http import Client
from tests.fixtures.pods import delete_all_pods, running_worker

BACKENDS = ("sqlite", "postgresql")


@pytest.fixture(autouse=True, scope="session")
def _clean_environment() -> Iterator[None]:
    """A developer's INSTAPODS_* variables must not change what the tests see. Pods of servers
    the tests start go to a directory pod users can reach (pytest's tmp is private)."""
    for name in [n for n in os.environ if n.startswith("INSTAPODS_")]:
        del os.environ[name]
    pods = sandbox.pods_dir()
    os.environ["INSTAPODS_PODS_DIR"] = str(pods)
    yield
    shutil.rmtree(pods, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    with postgres.temporary_database(os.environ.get("PYTEST_XDIST_WORKER", "main")) as url:
        yield url


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'instapods.db'}"
    url: str = request.getfixturevalue("postgres_url")
    postgres.empty_tables(url)
    return url


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Iterator[Settings]:
    pods = sandbox.pods_dir()  # outside pytest's tmp, which pod users cannot reach
    yield Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        port=8080,
        public_url="http://localhost:8080",
        server_name="test-server",
        pods_dir=pods,
    )
    shutil.rmtree(pods, ignore_errors=True)


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    async with running_app(settings) as app:
        try:
            yield app
        finally:
            await delete_all_pods(app)  # nothing a test started outlives it


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[Client]:
    async with Client.for_app(app) as client:
        yield client


@pytest.fixture
def factory(app: FastAPI) -> Factory:
    return Factory(app)


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Once every worker is done (on the controller only), take the pod firewall down."""
    if not hasattr(session.config, "workerinput"):
        from tests.fixtures.sandbox import remove_firewall

        remove_firewall()


@pytest.fixture
async def worker(app: FastAPI) -> AsyncIterator[None]:
    """The job worker, so pods a test creates are provisioned."""
    async with running_worker(app):
        yield
