"""The database: engine, migrations, and one session (one transaction) per request."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any

from alembic import command
from alembic.config import Config
from fastapi import Depends, Request
from sqlalchemy import event, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

log = logging.getLogger("instapods.db")

MIGRATIONS = Path(__file__).parent / "migrations"


def create_engine(url: str) -> AsyncEngine:
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": 30})
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    return create_async_engine(url, pool_pre_ping=True)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def dialect_name(engine: AsyncEngine) -> str:
    return "postgresql" if engine.dialect.name == "postgresql" else engine.dialect.name


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Run Alembic migrations up to `revision` on an open engine."""

    def run(connection: Connection) -> None:
        command.upgrade(alembic_config(connection), revision)

    async with engine.begin() as connection:
        if connection.dialect.name == "postgresql":  # replicas starting together migrate once
            await connection.execute(text("SELECT pg_advisory_xact_lock(4857301)"))
        await connection.run_sync(run)
    log.info("database schema at %s", revision)


async def ping(engine: AsyncEngine) -> bool:
    try:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    except Exception:  # any failure means "down" to the health check
        log.warning("database ping failed", exc_info=True)
        return False
    return True


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


async def request_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One transaction per request: committed when the endpoint returns, rolled back on error.

    Actions registered with `after_commit` (mail, queue wake-ups) run once the commit holds.
    """
    factory: async_sessionmaker[AsyncSession] = request.app.state.sessions
    async with factory() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise
        await run_after_commit(session)


async def run_after_commit(session: AsyncSession) -> None:
    """Run the actions `after_commit` registered, once their transaction has committed."""
    for action in session.info.pop("after_commit", []):
        try:
            await action()
        except Exception:  # the transaction holds; a side effect failing must not undo it
            log.exception("after-commit action failed")


def after_commit(session: AsyncSession, action: Any) -> None:
    """Run `action` (an async callable) only once the request's transaction has committed."""
    session.info.setdefault("after_commit", []).append(action)


SessionDep = Annotated[AsyncSession, Depends(request_session, scope="function")]
