"""`instapods files …`: write (from --content and from stdin), cat, ls, upload, mv, rm and sync,
against a real pod; binary content compared byte for byte."""

from __future__ import annotations

from pathlib import Path

from tests.cli.support import APP, Cli, error_line, names, write_tree
from tests.e2e.support import Platform

BINARY = bytes(range(256)) * 64 + b"\x00\xff\xfe trailing"  # NULs, invalid UTF-8


def test_files_commands(platform: Platform, cli: Cli, tmp_path: Path) -> None:
    platform.running_pod("notebook", "static")

    def ok(*argv: str | Path, input: str | bytes | None = None) -> str:
        result = cli(*argv, input=input)
        assert result.code == 0, result
        return result.stdout

    def ls(path: str) -> set[str]:
        result = cli("files", "ls", "notebook", path, "--json")
        assert result.code == 0, result
        return names(result.json())

    # write: --content, stdin (text), stdin (bytes that are not text: sent as an upload)
    assert ok("files", "write", "notebook", "notes/a.txt", "--content", "hello a") == (
        f"Wrote {APP}/notes/a.txt (7 bytes)\n"
    )
    ok("files", "write", "notebook", f"{APP}/notes/b.txt", input="from stdin\nline two\n")
    ok("files", "write", "notebook", "notes/raw.bin", input=BINARY)
    ok("files", "write", "notebook", "/tmp/scratch.txt", input="")  # an empty file is a file

    # cat: text, absolute and relative paths, --json, and the bytes exactly as written
    assert ok("files", "cat", "notebook", "notes/a.txt") == "hello a"
    assert ok("files", "cat", "notebook", f"{APP}/notes/b.txt") == "from stdin\nline two\n"
    assert cli("files", "cat", "notebook", "notes/raw.bin").out == BINARY
    as_json = cli("files", "cat", "notebook", "notes/a.txt", "--json")
    assert as_json.json() == {"path": f"{APP}/notes/a.txt", "content": "hello a"}, as_json
    assert ok("files", "cat", "notebook", "/tmp/scratch.txt") == ""

    # upload: a binary file from disk into a folder of the pod
    logo = tmp_path / "logo.png"
    logo.write_bytes(b"\x89PNG\r\n\x1a\n" + BINARY)
    uploaded = ok("files", "upload", "notebook", logo, "--path", "assets")
    assert uploaded.startswith(f"Uploaded {APP}/assets/logo.png"), uploaded
    assert cli("files", "cat", "notebook", "assets/logo.png").out == logo.read_bytes()
    assert platform.visit("notebook", "/assets/logo.png").content == logo.read_bytes()
    listing = cli("files", "ls", "notebook", "assets", "--json").json()
    assert [(f["name"], f["size"]) for f in listing["files"]] == [
        ("logo.png", str(logo.stat().st_size))
    ]

    # ls (app root by default), in people's words too
    assert ls(APP) == {"assets", "index.html", "notes"}
    human = ok("files", "ls", "notebook", "notes")
    assert human.splitlines()[0].split() == ["PERMISSIONS", "SIZE", "MODIFIED", "NAME"]
    assert {line.split()[-1] for line in human.splitlines()[1:]} == {"a.txt", "b.txt",
                                                                     "raw.bin"}  # fmt: skip

    # mv: rename; onto an existing file is the API's 409
    assert ok("files", "mv", "notebook", "notes/a.txt", "notes/c.txt") == (
        f"Moved {APP}/notes/a.txt to {APP}/notes/c.txt\n"
    )
    assert ls("notes") == {"b.txt", "c.txt", "raw.bin"}
    clash = cli("files", "mv", "notebook", "notes/b.txt", "notes/c.txt")
    assert clash.code == 1, clash
    assert error_line(clash).endswith("(409)")
    assert ok("files", "cat", "notebook", "notes/c.txt") == "hello a"

    # rm: a file, then a folder with everything in it
    assert ok("files", "rm", "notebook", "notes/b.txt") == f"Deleted {APP}/notes/b.txt\n"
    assert ls("notes") == {"c.txt", "raw.bin"}
    ok("files", "rm", "notebook", "notes")
    assert ls(APP) == {"assets", "index.html"}
    gone = cli("files", "cat", "notebook", "notes/c.txt")
    assert gone.code == 1, gone
    error_line(gone)

    # sync: a local folder made a folder of the pod outside the app; then only what changed
    local = write_tree(tmp_path / "dist", {
        "index.html": "<h1>dist</h1>", "js/app.js": "console.log(1)", "old.css": "a{}",
        "node_modules/x/index.js": "excluded", ".env": "SECRET=1",
    })  # fmt: skip
    first = cli("files", "sync", "notebook", "--local", local, "--path", "/var/www/x", "--json")
    assert first.code == 0, first
    assert sorted(first.json()["uploaded"]) == ["index.html", "js/app.js", "old.css"]
    assert ls("/var/www/x") == {"index.html", "js", "old.css"}
    assert ok("files", "cat", "notebook", "/var/www/x/js/app.js") == "console.log(1)"

    write_tree(local, {"js/app.js": "console.log(2)"})
    (local / "old.css").unlink()
    second = cli("files", "sync", "notebook", "--local", local, "--path", "/var/www/x", "--json")
    assert second.code == 0, second
    assert second.json() == {"uploaded": ["js/app.js"], "deleted": ["old.css"], "unchanged": 1}
    assert ls("/var/www/x") == {"index.html", "js"}
    assert ok("files", "cat", "notebook", "/var/www/x/js/app.js") == "console.log(2)"

    # --no-delete keeps what the folder lacks; nothing else in the pod was touched
    (local / "index.html").unlink()
    kept = cli("files", "sync", "notebook", "--local", local, "--path", "/var/www/x", "--no-delete")
    assert kept.code == 0, kept
    assert "up to date" in kept.stderr, kept
    assert ls("/var/www/x") == {"index.html", "js"}
    assert ls(APP) == {"assets", "index.html"}
    assert "notebook is live" in ok("files", "cat", "notebook", "index.html")
