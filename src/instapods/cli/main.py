"""The `instapods` command. Server commands live here; the client commands arrive with the CLI.

Server code is imported inside the server commands only, so the client stays light.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from instapods import __version__

if TYPE_CHECKING:
    from instapods.config import Settings

app = typer.Typer(help="instapods: run web apps in isolated pods.", no_args_is_help=True)
db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True)
app.add_typer(db_app, name="db")

DataDir = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        help="Data directory [default: ./data]",
        envvar="INSTAPODS_DATA_DIR",
        show_envvar=True,
    ),
]


def _settings(**overrides: object) -> Settings:
    from instapods.config import Settings

    return Settings.model_validate({k: v for k, v in overrides.items() if v is not None})


@app.command()
def server(
    data_dir: DataDir = None,
    port: Annotated[
        int | None,
        typer.Option(
            help="Public HTTP port [default: 8080]", envvar="INSTAPODS_PORT", show_envvar=True
        ),
    ] = None,
    host: Annotated[
        str | None,
        typer.Option(help="Address to bind [default: 127.0.0.1]", envvar="INSTAPODS_HOST"),
    ] = None,
) -> None:
    """Run the platform: the edge (Caddy) on PORT, the API behind it (and, as they are built,
    SSH gateway and workers). Pods answer at http://POD.localhost:PORT.

    Example: instapods server --data-dir ./data --port 8080
    """
    from instapods.supervisor import run_server

    settings = _settings(data_dir=data_dir, port=port, host=host)
    url = f"http://{settings.host}:{settings.port}"
    pods = f"http://<pod>.{settings.base_domain}:{settings.port}"
    typer.echo(
        f"instapods {__version__}: API at {url}/api, docs at {url}/api/docs, "
        f"pods at {pods}, data in {settings.data_dir.resolve()}"
    )
    raise typer.Exit(run_server(settings))


@app.command()
def worker(data_dir: DataDir = None) -> None:
    """Run only the job worker (provisioning, installs, checks) on the server's database.

    `instapods server` runs one already; start more next to it when the database is PostgreSQL.

    Example: INSTAPODS_DATABASE_URL=postgresql+asyncpg://localhost/instapods instapods worker
    """
    from instapods.worker.command import run_worker

    settings = _settings(data_dir=data_dir)
    typer.echo(f"instapods {__version__}: job worker, data in {settings.data_dir.resolve()}")
    raise typer.Exit(run_worker(settings))


@db_app.command("upgrade")
def db_upgrade(
    data_dir: DataDir = None,
    revision: Annotated[str, typer.Argument(help="Target revision")] = "head",
) -> None:
    """Apply database migrations (the server also does this at start).

    Example: INSTAPODS_DATABASE_URL=postgresql+asyncpg://localhost/instapods instapods db upgrade
    """
    from instapods import db

    settings = _settings(data_dir=data_dir)
    settings.data_dir.mkdir(parents=True, exist_ok=True)

    async def upgrade() -> None:
        engine = db.create_engine(settings.resolved_database_url)
        try:
            await db.upgrade(engine, revision)
        finally:
            await engine.dispose()

    asyncio.run(upgrade())
    typer.echo(f"database at {revision}")


@app.command()
def version() -> None:
    """Print the version.

    Example: instapods version
    """
    typer.echo(__version__)


def main() -> None:
    app()
