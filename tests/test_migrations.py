"""The Alembic history builds exactly the schema the models describe, on both databases."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import insert, inspect, select
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from instapods import db
from instapods.models import Base, Server
from tests.fixtures import postgres

HEAD = ScriptDirectory.from_config(db.alembic_config()).get_current_head()


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL to a database with nothing in it (a fresh PostgreSQL database, dropped after)."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'migrations.db'}"
        return
    with postgres.temporary_database("migrations") as url:
        yield url


@pytest.fixture
async def engine(empty_database: str) -> AsyncIterator[AsyncEngine]:
    engine = db.create_engine(empty_database)
    try:
        yield engine
    finally:
        await engine.dispose()


def _differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "compare_server_default": True}
    )
    return list(compare_metadata(context, Base.metadata))


def _revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def _tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


async def test_a_single_head() -> None:
    heads = ScriptDirectory.from_config(db.alembic_config()).get_heads()
    assert heads == [HEAD]


async def test_head_matches_the_models(engine: AsyncEngine) -> None:
    await db.upgrade(engine)
    async with engine.connect() as connection:
        assert await connection.run_sync(_revision) == HEAD
        assert await connection.run_sync(_differences) == []
        assert set(Base.metadata.tables) <= await connection.run_sync(_tables)


async def test_upgrading_twice_is_a_no_op(engine: AsyncEngine) -> None:
    await db.upgrade(engine)
    async with engine.begin() as connection:
        await connection.execute(insert(Server).values(id="srv_keep", name="keep", region="local"))
        before = await connection.run_sync(_tables)

    await db.upgrade(engine)

    async with engine.connect() as connection:
        assert await connection.run_sync(_revision) == HEAD
        assert await connection.run_sync(_tables) == before
        names = list(await connection.scalars(select(Server.name)))
        assert names == ["keep"]
        assert await connection.run_sync(_differences) == []


async def test_downgrade_to_base_and_back(engine: AsyncEngine) -> None:
    await db.upgrade(engine)

    def downgrade(connection: Connection) -> None:
        command.downgrade(db.alembic_config(connection), "base")

    async with engine.begin() as connection:
        await connection.run_sync(downgrade)
    async with engine.connect() as connection:
        assert await connection.run_sync(_revision) is None
        assert await connection.run_sync(_tables) <= {"alembic_version"}

    await db.upgrade(engine)
    async with engine.connect() as connection:
        assert await connection.run_sync(_revision) == HEAD
        assert await connection.run_sync(_differences) == []
