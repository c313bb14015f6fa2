"""The `instapods` command: the client (talks to the HTTP API only; instapods.cli.commands,
files, deploy) and the server's own commands (server, worker, db), whose code is imported
inside them only, so the client stays light and never touches server code.

Exit codes: 0 done, 1 the API refused (4xx/5xx), 2 a wrong command line, 3 the API could not
be reached, 4 not signed in; `exec` passes the command's own code through; 130 on Ctrl-C.
"""

from __future__ import annotations

import gc
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from typer.exceptions import TyperException

from instapods import __version__
from instapods.cli import commands
from instapods.cli.client import EXIT_USAGE, CliError
from instapods.cli.context import err, show, state
from instapods.cli.deploy import deploy
from instapods.cli.files import files_app

if TYPE_CHECKING:
    from instapods.config import Settings

app = typer.Typer(
    rich_markup_mode=None,
    help="instapods: run web apps in isolated pods.\n\nExample: instapods deploy hello",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(
    rich_markup_mode=None,
    help="Database maintenance (on the server).\n\nExample: instapods db upgrade",
    no_args_is_help=True,
)
GLOBAL_FLAGS = ("--json",)
GLOBAL_OPTIONS = ("--api", "--token")


@app.callback()
def root(
    api: Annotated[
        str | None,
        typer.Option(
            "--api",
            help="The API's URL [env INSTAPODS_API; default: the config "
            "file's, else http://localhost:8080]",
            metavar="URL",
        ),
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(
            "--token",
            help="An API token [env INSTAPODS_TOKEN; default: the config file's]",
            metavar="TOKEN",
        ),
    ] = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Machine-readable output (JSON on stdout only)")
    ] = False,
) -> None:
    """Global options; they may also come after the command (`instapods pods list --json`)."""
    state.api_url, state.token, state.json = api, token, json_output


app.add_typer(commands.auth_app, name="auth")
app.command("whoami")(commands.whoami)
app.add_typer(commands.pods_app, name="pods")
app.command("deploy")(deploy)
app.add_typer(files_app, name="files")
app.command("logs")(commands.logs)
app.command("exec")(commands.exec_command)
app.add_typer(commands.env_app, name="env")
app.command("presets")(commands.presets)
app.command("plans")(commands.plans)
app.command("regions")(commands.regions)
app.command("open")(commands.open_pod)
app.add_typer(commands.teams_app, name="teams")
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
    import asyncio

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
    show({"version": __version__}, lambda: typer.echo(__version__))


def hoist(argv: list[str]) -> list[str]:
    """Move the global options to the front (they may follow the command), up to `--`."""
    front: list[str] = []
    rest: list[str] = []
    index = 0
    while index < len(argv):
        arg = argv[index]
        if arg == "--":
            rest += argv[index:]
            break
        if arg in GLOBAL_FLAGS or (arg.split("=", 1)[0] in GLOBAL_OPTIONS and "=" in arg):
            front.append(arg)
        elif arg in GLOBAL_OPTIONS and index + 1 < len(argv):
            front += argv[index : index + 2]
            index += 1
        else:
            rest.append(arg)
        index += 1
    return front + rest


def main() -> None:
    code = 0
    try:
        result = app(args=hoist(sys.argv[1:]), prog_name="instapods", standalone_mode=False)
        code = result if isinstance(result, int) else 0
    except CliError as error:
        err.print(f"error: {error.message}", markup=False)
        code = error.code
    except typer.Abort:
        err.print("interrupted")
        code = 130
    except TyperException as error:  # click's errors (Typer carries its own click)
        message = error.format_message() if hasattr(error, "format_message") else str(error)
        context = getattr(error, "ctx", None)
        if type(error).__name__ == "NoArgsIsHelpError":
            err.print(message, markup=False)  # the help of a group called without a command
        else:
            hint = f" (see `{context.command_path} --help`)" if context is not None else ""
            err.print(f"error: {message}{hint}", markup=False)
        code = int(getattr(error, "exit_code", EXIT_USAGE))
    except KeyboardInterrupt:
        err.print("interrupted")
        code = 130
    finally:
        state.close()
    gc.freeze()  # nothing left to collect: spare the interpreter's last full collection
    sys.exit(code)
