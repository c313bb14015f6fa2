"""`instapods files …`: a pod's files from the command line."""

from __future__ import annotations

import posixpath
import sys
from pathlib import Path
from typing import Annotated

import typer

from instapods.cli.client import EXIT_USAGE, CliError
from instapods.cli.commands import PodName, api
from instapods.cli.context import out, show, state, table
from instapods.cli.deploy import APP, excludes_of, folder_of, sync

files_app = typer.Typer(
    rich_markup_mode=None,
    help="A pod's files (paths inside the pod: /home/instapod/app/…).\n\n"
    "Example: instapods files ls hello public",
    no_args_is_help=True,
)
TEXT_LIMIT = 10 * 1024 * 1024

PodPath = Annotated[str, typer.Argument(help="A path in the pod", metavar="PATH")]


def absolute(path: str) -> str:
    """A path as the API wants it: relative ones are taken from the app root."""
    return path if path.startswith("/") else posixpath.join(APP, path)


@files_app.command("ls")
def ls(
    name: PodName,
    path: Annotated[str, typer.Argument(help="A folder in the pod", metavar="PATH")] = APP,
) -> None:
    """List a folder (the app root by default).

    Example: instapods files ls hello /home/instapod/app/public
    """
    listing = api().get(f"/api/pods/{name}/files", params={"path": absolute(path)})
    show(listing, lambda: table(
        ["PERMISSIONS", "SIZE", "MODIFIED", "NAME"],
        [[f["permissions"], f["size"], f["modified_at"], f["name"] + ("/" if f["is_dir"] else "")]
         for f in listing["files"]],
    ))  # fmt: skip


@files_app.command("cat")
def cat(name: PodName, path: PodPath) -> None:
    """Print a file (any size, any content: it is streamed).

    Example: instapods files cat hello package.json
    """
    target = absolute(path)
    if state.json:
        show(api().get(f"/api/pods/{name}/files/content", params={"path": target}), lambda: None)
        return
    with api().stream(f"/api/pods/{name}/files/download", params={"path": target}) as response:
        for chunk in response.iter_bytes():
            sys.stdout.buffer.write(chunk)
    sys.stdout.flush()


@files_app.command("write")
def write(
    name: PodName,
    path: PodPath,
    content: Annotated[str | None, typer.Option(help="The text (else stdin is read)")] = None,
) -> None:
    """Write a file from --content or stdin (parent folders are made; the old file is
    replaced whole).

    Example: echo "NODE_ENV=production" | instapods files write hello .env
    """
    target = absolute(path)
    data = content.encode() if content is not None else sys.stdin.buffer.read()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None and "\x00" not in text and len(data) <= TEXT_LIMIT:
        result = api().put(
            f"/api/pods/{name}/files/content", json={"path": target, "content": text}
        )
    else:  # bytes the content endpoint does not take travel as an upload
        directory, leaf = posixpath.split(target)
        result = api().post(f"/api/pods/{name}/files/upload", data={"path": directory},
                            files={"file": (leaf, data)})  # fmt: skip
    show(result, lambda: out.print(f"Wrote {target} ({len(data)} bytes)"))


@files_app.command("upload")
def upload(
    name: PodName,
    local: Annotated[Path, typer.Argument(help="A local file", metavar="FILE")],
    path: Annotated[str, typer.Option(help="The folder in the pod")] = APP,
) -> None:
    """Upload one file (up to 32 MB) into a folder of the pod.

    Example: instapods files upload hello ./logo.png --path /home/instapod/app/public
    """
    if not local.is_file():
        raise CliError(f"{local} is not a file", EXIT_USAGE)
    with open(local, "rb") as handle:  # a file object: httpx sends it in pieces
        result = api().post(f"/api/pods/{name}/files/upload", data={"path": absolute(path)},
                            files={"file": (local.name, handle)}, timeout=600)  # fmt: skip
    show(result, lambda: out.print(f"Uploaded {result['path']} ({result['size']} bytes)"))


@files_app.command("sync")
def sync_command(
    name: PodName,
    local: Annotated[Path, typer.Option("--local", help="The local folder")] = Path("."),
    path: Annotated[str, typer.Option(help="The folder in the pod")] = APP,
    exclude: Annotated[
        list[str] | None, typer.Option("--exclude", help="More patterns to leave out")
    ] = None,
    delete: Annotated[
        bool, typer.Option("--delete/--no-delete", help="Remove what the folder lacks")
    ] = True,
) -> None:
    """Make a folder of the pod match a local folder: upload what changed, remove what is
    gone (same excludes as deploy). No reload.

    Example: instapods files sync hello --local ./dist --path /var/www/html
    """
    folder = folder_of(local)
    result = sync(name, folder, absolute(path), excludes_of(folder, exclude or []), delete)
    show(result, lambda: None)


@files_app.command("rm")
def rm(name: PodName, path: PodPath) -> None:
    """Delete a file or a folder with everything in it.

    Example: instapods files rm hello old-assets
    """
    result = api().delete(f"/api/pods/{name}/files", params={"path": absolute(path)})
    show(result, lambda: out.print(f"Deleted {result['path']}"))


@files_app.command("mv")
def mv(
    name: PodName,
    old: Annotated[str, typer.Argument(help="The path now", metavar="OLD")],
    new: Annotated[str, typer.Argument(help="The new path", metavar="NEW")],
) -> None:
    """Move or rename a file or folder (fails if NEW exists).

    Example: instapods files mv hello index.htm index.html
    """
    body = {"old_path": absolute(old), "new_path": absolute(new)}
    result = api().post(f"/api/pods/{name}/files/rename", json=body)
    show(result, lambda: out.print(f"Moved {result['old_path']} to {result['new_path']}"))
