"""The Files API as a client sees it: every endpoint's shape and codes, files that belong to the
pod's user, writes that land whole or not at all (a cut-off upload, a full disk, an upload over
the limit), a stopped pod's files, and the event each change leaves.

Pods are real sandboxes on small plans (a 1 GB disk, so it can be filled with `fallocate`);
what the API did is checked from inside the pod with `exec`, as the pod's own user.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI

from instapods.config import PlanConfig, Settings
from tests.auth.support import with_changes
from tests.files.support import (
    APP,
    MIB,
    Part,
    chunked,
    events,
    fails,
    ls,
    multipart,
    names,
    ok,
    put,
    targz,
    upload,
)
from tests.fixtures.errors import fields_of
from tests.fixtures.factories import UserHandle
from tests.fixtures.http import Client
from tests.pods.support import platform_of, run, running_pod, sh
from tests.runtime.support import SandboxHost

PLANS = [
    PlanConfig(slug="launch", name="Launch", cpu=1, memory_mb=256, disk_gb=1, price_cents=100),
]
AGENT_COMMAND = b"/usr/bin/python3\x00-I\x00-c\x00"  # the files agent, as the host sees it
ISO_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return with_changes(settings, plans=[plan.model_dump() for plan in PLANS])


def files_url(pod: str, route: str = "files") -> str:
    return f"/api/pods/{pod}/{route}"


def files_agents(app: FastAPI, pod_id: str) -> set[int]:
    """The pod's files agents, seen from the host."""
    found = set()
    for pid in SandboxHost(platform_of(app).runtime).processes(pod_id):
        with contextlib.suppress(OSError):
            if Path(f"/proc/{pid}/cmdline").read_bytes().startswith(AGENT_COMMAND):
                found.add(pid)
    return found


async def test_text_files_are_listed_read_and_written_as_the_pods_user(
    api: Client, app: FastAPI, worker: None, owner: UserHandle
) -> None:
    pod = await running_pod(api, "notes")
    url = files_url("notes")
    start = datetime.now(UTC) - timedelta(seconds=5)

    # The app root is the default, and the preset's starter is in it.
    root = ok(await api.get(url))
    assert root["path"] == APP
    assert "app.py" in [entry["name"] for entry in root["files"]]
    # An error answer (a missing file, a file that is not a folder) keeps the files agent.
    agents = files_agents(app, pod["id"])
    assert len(agents) == 1, agents
    fails(await api.get(f"{url}/content", params={"path": f"{APP}/no"}), 404)
    fails(await api.get(url, params={"path": f"{APP}/app.py"}), 400)
    ok(await api.get(url))
    assert files_agents(app, pod["id"]) == agents

    note = f"{APP}/deep/er/note.txt"
    saved = ok(await api.put(f"{url}/content", json={"path": note, "content": "héllo\n"}))
    assert saved == {"status": "saved", "path": note}  # parents were created
    listed = ok(await api.get(url, params={"path": f"{APP}/deep/er"}))
    assert listed["path"] == f"{APP}/deep/er"
    [entry] = listed["files"]
    assert {k: entry[k] for k in ("name", "permissions", "size", "is_dir")} == {
        "name": "note.txt", "permissions": "-rw-r--r--", "size": "7", "is_dir": False,
    }  # fmt: skip
    assert ISO_UTC.fullmatch(entry["modified_at"]), entry
    modified = datetime.fromisoformat(entry["modified_at"].replace("Z", "+00:00"))
    assert start <= modified <= datetime.now(UTC) + timedelta(seconds=5)
    [folder] = ok(await api.get(url, params={"path": f"{APP}/deep"}))["files"]
    assert (folder["name"], folder["is_dir"], folder["permissions"]) == ("er", True, "drwxr-xr-x")
    assert isinstance(folder["size"], str)
    assert folder["size"].isdigit()
    # A "//" or a trailing "/" is folded; a missing directory lists as empty.
    again = ok(await api.get(url, params={"path": "/home/instapod//app/deep/er/"}))
    assert (again["path"], again["files"]) == (f"{APP}/deep/er", listed["files"])
    missing = ok(await api.get(url, params={"path": f"{APP}/nowhere"}))
    assert (missing["path"], missing["files"]) == (f"{APP}/nowhere", [])

    read = ok(await api.get(f"{url}/content", params={"path": note}))
    assert read == {"path": note, "content": "héllo\n"}

    # The files (and the folders made for them) are the pod user's, who can read and change them.
    owners = await sh(api, "notes", "stat -c %U:%G:%a deep deep/er deep/er/note.txt")
    assert owners == "instapod:instapod:755\ninstapod:instapod:755\ninstapod:instapod:644\n"
    assert await sh(api, "notes", "cat deep/er/note.txt && echo more >> deep/er/note.txt") == (
        "héllo\n"
    )
    # Saving again replaces the content but keeps the file's own permissions.
    await sh(api, "notes", "chmod 600 deep/er/note.txt")
    await put(api, "notes", note, "second\n")
    assert await sh(api, "notes", "stat -c %U:%a deep/er/note.txt; cat deep/er/note.txt") == (
        "instapod:600\nsecond\n"
    )
    # Saves of one file at once: each lands whole, one of them last, and nothing is left beside.
    racing = [f"writer {i}\n" * (20_000 + i) for i in range(8)]
    raced = await asyncio.gather(*(
        api.put(f"{url}/content", json={"path": f"{APP}/race.txt", "content": text})
        for text in racing
    ))  # fmt: skip
    assert [r.status_code for r in raced] == [200] * 8
    final = ok(await api.get(f"{url}/content", params={"path": f"{APP}/race.txt"}))["content"]
    assert final in racing
    assert sorted((await ls(api, "notes")).split()) == ["app.py", "deep", "race.txt"]
    for root_dir in ("/var/www", "/tmp"):
        await put(api, "notes", f"{root_dir}/x/y.txt", "elsewhere")
        assert await sh(api, "notes", f"cat {root_dir}/x/y.txt") == "elsewhere"

    # What files/content cannot show: binary, not UTF-8, over 10 MB (each: use download).
    await sh(api, "notes", "printf 'a\\000b' > nul.dat; printf '\\377\\376x' > latin.txt")
    await sh(api, "notes", "head -c 11000000 /dev/zero | tr '\\000' a > big.txt")
    for path, status in (("nul.dat", 400), ("latin.txt", 400), ("big.txt", 413)):
        refused = await api.get(f"{url}/content", params={"path": f"{APP}/{path}"})
        fails(refused, status, "download")
    fails(await api.get(f"{url}/content", params={"path": f"{APP}/nope.txt"}), 404)
    fails(await api.get(f"{url}/content", params={"path": f"{APP}/deep"}), 400)
    fails(await api.get(f"{url}/content"), 400)  # no path
    for body in ({"path": f"{APP}/x.txt"}, {"content": "x"}, {"path": "x.txt", "content": "x"}):
        fails(await api.put(f"{url}/content", json=body), 400)
    for bad in ("x.txt", f"{APP}/../etc", f"{APP}/a\x00b", f"{APP}/{'n' * 256}", "/etc/passwd"):
        assert fields_of((await api.get(f"{url}/content", params={"path": bad})).json()) == ["path"]
    fails(await api.put(f"{url}/content", json={"path": f"{APP}/deep", "content": "x"}), 400)
    under_a_file = {"path": f"{APP}/deep/er/note.txt/x.txt", "content": "x"}
    fails(await api.put(f"{url}/content", json=under_a_file), 400)
    fails(await api.get(url, params={"path": f"{APP}/app.py"}), 400)  # a file is not a folder
    assert await sh(api, "notes", "ls -A deep") == "er\n"  # the folder is still a folder

    # Downloads are the raw bytes, as an attachment.
    await sh(api, "notes", "head -c 300000 /dev/urandom > 'r a.bin'")
    digest = (await sh(api, "notes", "sha256sum 'r a.bin'")).split()[0]
    downloaded = await api.get(f"{url}/download", params={"path": f"{APP}/r a.bin"})
    assert downloaded.status_code == 200, downloaded.text
    assert hashlib.sha256(downloaded.content).hexdigest() == digest
    assert len(downloaded.content) == 300000
    assert downloaded.headers["content-length"] == "300000"
    assert downloaded.headers["content-type"] == "application/octet-stream"
    disposition = downloaded.headers["content-disposition"]
    assert disposition.startswith("attachment")
    assert "r%20a.bin" in disposition
    big = await api.get(f"{url}/download", params={"path": f"{APP}/big.txt"})
    assert (big.status_code, len(big.content)) == (200, 11000000)
    assert big.content == b"a" * 11000000
    await sh(api, "notes", "touch empty")
    empty = await api.get(f"{url}/download", params={"path": f"{APP}/empty"})
    assert (empty.status_code, empty.content, empty.headers["content-length"]) == (200, b"", "0")
    fails(await api.get(f"{url}/download", params={"path": f"{APP}/deep"}), 400)
    fails(await api.get(f"{url}/download", params={"path": f"{APP}/nope.bin"}), 404)

    # A symlink lists as itself; a write through it changes its file; a delete removes the link.
    await sh(api, "notes", "echo target > target.txt && ln -s target.txt link.txt")
    listed = {e["name"]: e for e in ok(await api.get(url))["files"]}
    assert (listed["link.txt"]["permissions"], listed["link.txt"]["is_dir"]) == (
        "lrwxrwxrwx",
        False,
    )
    await put(api, "notes", f"{APP}/link.txt", "through the link\n")
    assert await sh(api, "notes", "cat target.txt; readlink link.txt") == (
        "through the link\ntarget.txt\n"
    )
    ok(await api.delete(url, params={"path": f"{APP}/link.txt"}))
    assert await sh(api, "notes", "cat target.txt; test ! -e link.txt") == "through the link\n"

    # Listings and reads leave no event; every change and every download leaves one, by the
    # owner, naming the file.
    everything = (await api.get("/api/pods/notes/events", params={"limit": 1})).json()["total"]
    ok(await api.get(url))
    ok(await api.get(f"{url}/content", params={"path": f"{APP}/target.txt"}))
    ok(await api.get(f"{url}/manifest"))
    assert (await api.get("/api/pods/notes/events", params={"limit": 1})).json()["total"] == (
        everything
    )
    found = await events(api, "notes", "file_saved,file_downloaded")
    assert {e["actor"] for e in found} == {owner.email}
    saves = [e["message"] for e in found if e["type"] == "file_saved"]
    assert sorted(saves) == sorted([
        f"Saved {note} (7 bytes)", f"Saved {note} (7 bytes)",
        "Saved /var/www/x/y.txt (9 bytes)", "Saved /tmp/x/y.txt (9 bytes)",
        *(f"Saved {APP}/race.txt ({len(text)} bytes)" for text in racing),
        f"Saved {APP}/link.txt (17 bytes)",
    ])  # fmt: skip
    downloads = [e["message"] for e in found if e["type"] == "file_downloaded"]
    assert sorted(downloads) == [
        f"Downloaded {APP}/big.txt (11000000 bytes)",
        f"Downloaded {APP}/empty (0 bytes)",
        f"Downloaded {APP}/r a.bin (300000 bytes)",
    ]


async def test_files_are_deleted_renamed_copied_and_listed_in_a_manifest(
    api: Client, worker: None, owner: UserHandle
) -> None:
    await running_pod(api, "shuffle")
    url = files_url("shuffle")
    await sh(api, "shuffle", "mkdir -p tree/sub && echo a > tree/a.txt && echo b > tree/sub/b.txt")
    await sh(api, "shuffle", "chmod +x tree/sub/b.txt && echo log > tree/run.log")

    # Folders (with their parents).
    made = ok(await api.post("/api/pods/shuffle/folders", json={"path": f"{APP}/f1/f2/f3"}))
    assert made == {"status": "created", "path": f"{APP}/f1/f2/f3"}
    ok(await api.post("/api/pods/shuffle/folders", json={"path": f"{APP}/f1/f2/f3"}))  # again
    assert await sh(api, "shuffle", "stat -c %U:%F f1/f2/f3") == "instapod:directory\n"
    fails(await api.post("/api/pods/shuffle/folders", json={"path": f"{APP}/tree/a.txt/x"}), 400)

    # Copies, recursively; never over something that exists.
    copied = ok(await api.post(f"{url}/copy", json={
        "source_path": f"{APP}/tree", "destination_path": f"{APP}/tree2",
    }))  # fmt: skip
    assert copied == {
        "status": "copied", "source_path": f"{APP}/tree", "destination_path": f"{APP}/tree2",
    }  # fmt: skip
    found = await sh(api, "shuffle", "cd tree2 && find . | sort && cat a.txt sub/b.txt")
    assert found == ". ./a.txt ./run.log ./sub ./sub/b.txt a b".replace(" ", "\n") + "\n"
    assert await sh(api, "shuffle", "stat -c %U:%a tree2/sub/b.txt") == "instapod:755\n"
    for source, destination, status in (
        ("tree/a.txt", "tree2/a.txt", 409),
        ("tree", "tree2", 409),
        ("nothing", "elsewhere", 404),
        ("tree", "tree/inside", 400),
    ):
        body = {"source_path": f"{APP}/{source}", "destination_path": f"{APP}/{destination}"}
        fails(await api.post(f"{url}/copy", json=body), status)
    assert await sh(api, "shuffle", "cat tree2/a.txt; ls -A tree") == "a\na.txt\nrun.log\nsub\n"
    file_copy = {"source_path": f"{APP}/tree/a.txt", "destination_path": "/tmp/c/a.txt"}
    ok(await api.post(f"{url}/copy", json=file_copy))
    assert await sh(api, "shuffle", "cat /tmp/c/a.txt") == "a\n"

    # Renames, within a root and across roots (another mount of the pod).
    renamed = ok(await api.post(f"{url}/rename", json={
        "old_path": f"{APP}/tree2", "new_path": "/tmp/moved",
    }))  # fmt: skip
    assert renamed == {"status": "renamed", "old_path": f"{APP}/tree2", "new_path": "/tmp/moved"}
    assert await sh(api, "shuffle", "cat /tmp/moved/sub/b.txt; test ! -e tree2") == "b\n"
    back = {"old_path": "/tmp/moved/a.txt", "new_path": f"{APP}/back/a.txt"}
    ok(await api.post(f"{url}/rename", json=back))
    assert await sh(api, "shuffle", "stat -c %U back/a.txt; cat back/a.txt") == "instapod\na\n"
    for old, new, status in (
        (f"{APP}/tree/a.txt", f"{APP}/tree/run.log", 409),  # the target exists
        (f"{APP}/tree", "/tmp/moved", 409),
        (f"{APP}/nothing", f"{APP}/else", 404),
        (f"{APP}/tree", f"{APP}/tree/sub/tree", 400),
        ("/tmp", "/var/www/tmp", 400),  # a root cannot move
    ):
        fails(await api.post(f"{url}/rename", json={"old_path": old, "new_path": new}), status)
    assert await sh(api, "shuffle", "cat tree/a.txt tree/run.log") == "a\nlog\n"

    # The manifest: every file below a path with its SHA-256; `exclude` repeats.
    manifest = ok(await api.get(f"{url}/manifest", params={"path": f"{APP}/tree"}))
    assert manifest["path"] == f"{APP}/tree"
    assert manifest["files"] == [
        {"path": "a.txt", "size": 2, "sha256": hashlib.sha256(b"a\n").hexdigest(),
         "executable": False},
        {"path": "run.log", "size": 4, "sha256": hashlib.sha256(b"log\n").hexdigest(),
         "executable": False},
        {"path": "sub/b.txt", "size": 2, "sha256": hashlib.sha256(b"b\n").hexdigest(),
         "executable": True},
    ]  # fmt: skip
    skipped = await api.get(
        f"{url}/manifest",
        params=[("path", f"{APP}/tree"), ("exclude", "*.log"), ("exclude", "sub")],
    )
    assert [f["path"] for f in ok(skipped)["files"]] == ["a.txt"]
    whole = ok(await api.get(f"{url}/manifest", params={"exclude": "tree"}))
    assert whole["path"] == APP
    assert "app.py" in [f["path"] for f in whole["files"]]
    assert not [f for f in whole["files"] if f["path"].startswith("tree/")]
    assert "back/a.txt" in [f["path"] for f in whole["files"]]
    empty = ok(await api.get(f"{url}/manifest", params={"path": f"{APP}/nothing"}))
    assert empty["files"] == []

    # Deletes: a file, a folder with all it holds; never a root; 404 for what is not there.
    deleted = ok(await api.delete(url, params={"path": f"{APP}/tree/run.log"}))
    assert deleted == {"status": "deleted", "path": f"{APP}/tree/run.log"}
    ok(await api.delete(url, params={"path": "/tmp/moved"}))
    assert await sh(api, "shuffle", "ls -A tree /tmp") == "/tmp:\nc\n\ntree:\na.txt\nsub\n"
    for root_dir in ("/home/instapod", "/var/www", "/tmp", "/tmp/", "//tmp"):
        fails(await api.delete(url, params={"path": root_dir}), 400, "root")
    fails(await api.delete(url, params={"path": f"{APP}/tree/run.log"}), 404)
    fails(await api.delete(url), 400)  # no path
    assert await sh(api, "shuffle", "ls -A /tmp | wc -l; ls /home/instapod") == "1\napp\n"

    changes = await events(api, "shuffle", "folder_created,file_copied,file_renamed,file_deleted")
    assert {e["actor"] for e in changes} == {owner.email}
    assert sorted((e["type"], e["message"]) for e in changes) == sorted([
        ("folder_created", f"Created folder {APP}/f1/f2/f3"),
        ("folder_created", f"Created folder {APP}/f1/f2/f3"),
        ("file_copied", f"Copied {APP}/tree to {APP}/tree2"),
        ("file_copied", f"Copied {APP}/tree/a.txt to /tmp/c/a.txt"),
        ("file_renamed", f"Renamed {APP}/tree2 to /tmp/moved"),
        ("file_renamed", f"Renamed /tmp/moved/a.txt to {APP}/back/a.txt"),
        ("file_deleted", f"Deleted {APP}/tree/run.log"),
        ("file_deleted", "Deleted /tmp/moved"),
    ])  # fmt: skip


async def test_uploads_go_where_the_form_says_and_land_whole_or_not_at_all(
    api: Client, worker: None, owner: UserHandle
) -> None:
    await running_pod(api, "uploads")
    url = files_url("uploads", "files/upload")

    # `path` as a field before the file, as a query parameter, after the file, or not at all.
    before = await upload(api, "uploads", [("path", None, b"/var/www/up"),
                                           ("file", "one.txt", b"one")])  # fmt: skip
    assert ok(before) | {"size": 3} == {"status": "uploaded", "path": "/var/www/up/one.txt",
                                        "size": 3}  # fmt: skip
    query = await upload(api, "uploads", [("file", "two.bin", b"\x00two")],
                         params={"path": "/tmp/q"})  # fmt: skip
    assert ok(query)["path"] == "/tmp/q/two.bin"
    after = await upload(api, "uploads", [("file", "three.txt", b"three"),
                                          ("path", None, b"/home/instapod/after")])  # fmt: skip
    assert ok(after)["path"] == "/home/instapod/after/three.txt"
    default = await upload(api, "uploads", [("file", "four.txt", b"four")])
    assert ok(default)["path"] == f"{APP}/four.txt"
    empty = await upload(api, "uploads", [("path", None, b"/tmp/q"), ("file", "empty", b"")])
    assert ok(empty) == {"status": "uploaded", "path": "/tmp/q/empty", "size": 0}
    contents = await sh(api, "uploads", "cat /var/www/up/one.txt /home/instapod/after/three.txt "
                                        f"{APP}/four.txt; od -An -c /tmp/q/two.bin")  # fmt: skip
    assert contents.split() == ["onethreefour", "\\0", "t", "w", "o"]
    assert await sh(api, "uploads", "stat -c %s /tmp/q/empty") == "0\n"
    owners = await sh(api, "uploads", "stat -c %U:%G:%a /var/www/up/one.txt /var/www/up")
    assert owners == "instapod:instapod:644\ninstapod:instapod:755\n"

    # A file that is there is replaced.
    ok(await upload(api, "uploads", [("file", "four.txt", b"FOUR!")]))
    assert await sh(api, "uploads", "cat four.txt") == "FOUR!"

    # Forms that cannot be uploaded.
    refused: list[tuple[list[Part], dict[str, str] | None]] = [
        ([("file", "a/b.txt", b"x")], None),  # a name is a name, not a path
        ([("file", "..", b"x")], None),
        ([("file", ".", b"x")], None),
        ([("file", "", b"x")], None),
        ([("path", None, b"/etc"), ("file", "x.txt", b"x")], None),
        ([("path", None, f"{APP}/../..".encode()), ("file", "x.txt", b"x")], None),
        ([("file", "x.txt", b"x")], {"path": "relative"}),
        ([("other", "x.txt", b"x")], None),  # no `file` part
        ([("file", None, b"x")], None),  # `file` as a text field
        ([("file", "x.txt", b"x"), ("file", "y.txt", b"y")], None),
        ([("path", None, APP.encode()), ("file", "four.txt", b"x")], {"path": "/etc"}),
        ([("path", None, f"{APP}/four.txt".encode()), ("file", "x.txt", b"x")], None),  # a file
    ]
    for parts, params in refused:
        fails(await upload(api, "uploads", parts, params=params), 400)
    tree = "find / -xdev \\( -path /proc -o -path /sys \\) -prune -o -name 'x.txt' -print"
    assert await sh(api, "uploads", tree + " 2>/dev/null; cat four.txt") == "FOUR!"
    listing = await ls(api, "uploads")
    assert sorted(listing.split()) == ["app.py", "four.txt"]

    # Over 32 MB: 413, and nothing of it stays (not even a hidden file, nor the space).
    used = ok(await api.get("/api/pods/uploads/disk-usage"))["used_bytes"]
    limit = 32 * MIB
    huge = os.urandom(limit + 1)  # streamed into the pod until the byte too many
    for name in ("huge.bin", "four.txt"):  # a new file, and one that is there
        fails(await upload(api, "uploads", [("file", name, huge)]), 413)
    exactly = await upload(api, "uploads", [("file", "limit.bin", b"\x01" * limit)])
    assert ok(exactly)["path"] == f"{APP}/limit.bin"
    assert await sh(api, "uploads", "stat -c %s limit.bin; cat four.txt") == f"{limit}\nFOUR!"
    assert sorted((await ls(api, "uploads")).split()) == ["app.py", "four.txt", "limit.bin"]
    await sh(api, "uploads", "rm limit.bin && sync")
    now = ok(await api.get("/api/pods/uploads/disk-usage"))["used_bytes"]
    assert abs(now - used) < 2 * MIB, (used, now)

    # A body cut off before the file ends (the client went away, or lied about its length):
    # the old file is intact, and no temporary file is left beside it.
    body, headers = multipart([("path", None, APP.encode()),
                               ("file", "four.txt", os.urandom(300_000))])  # fmt: skip
    cut = body[: len(body) - 1000]
    short = await api.post(url, content=chunked(cut), headers=headers)
    fails(short, 400)
    lying = await api.post(url, content=cut, headers={**headers, "Content-Length": str(len(body))})
    assert lying.status_code == 400, lying.text
    no_end = body[: body.rindex(b"\r\n--")]  # every byte of the file, but no closing boundary
    fails(await api.post(url, content=chunked(no_end), headers=headers), 400)
    assert await sh(api, "uploads", "cat four.txt") == "FOUR!"
    assert sorted((await ls(api, "uploads")).split()) == ["app.py", "four.txt"]

    found = await events(api, "uploads", "file_uploaded")
    assert {e["actor"] for e in found} == {owner.email}
    assert sorted(e["message"] for e in found) == sorted([
        "Uploaded /var/www/up/one.txt (3 bytes)", "Uploaded /tmp/q/two.bin (4 bytes)",
        "Uploaded /tmp/q/empty (0 bytes)",
        "Uploaded /home/instapod/after/three.txt (5 bytes)", f"Uploaded {APP}/four.txt (4 bytes)",
        f"Uploaded {APP}/four.txt (5 bytes)", f"Uploaded {APP}/limit.bin ({limit} bytes)",
    ])  # fmt: skip


async def test_an_archive_is_unpacked_whole_or_not_at_all(
    api: Client, worker: None, owner: UserHandle
) -> None:
    await running_pod(api, "unpacker")
    site = "/var/www/site"
    await sh(api, "unpacker", f"mkdir -p {site}/old/deeper && cd {site} && echo 1 > index.html "
                              "&& echo stale > stale.txt && echo keep > keep.txt")  # fmt: skip
    archive = targz({
        "index.html": b"<h1>new</h1>", "assets/": None, "assets/app.js": b"run()",
        "./nested/deep/x.txt": b"x", "empty/": None,
    })  # fmt: skip

    def form(archive: bytes, deletes: list[str], path: str = site) -> list[Part]:
        return [("path", None, path.encode()), *[("delete", None, d.encode()) for d in deletes],
                ("archive", "site.tar.gz", archive)]  # fmt: skip

    unpacked = await upload(api, "unpacker", form(archive, ["stale.txt", "old", "not-there"]),
                            route="files/unpack")  # fmt: skip
    assert ok(unpacked) == {"status": "unpacked", "path": site, "files": 3, "directories": 2,
                            "deleted": 2, "bytes": 12 + 5 + 1}  # fmt: skip
    tree = await sh(api, "unpacker", f"cd {site} && find . | sort && cat index.html assets/app.js")
    assert tree.split() == [
        ".",
        "./assets",
        "./assets/app.js",
        "./empty",
        "./index.html",
        "./keep.txt",
        "./nested",
        "./nested/deep",
        "./nested/deep/x.txt",
        "<h1>new</h1>run()",
    ]
    owners = await sh(api, "unpacker", f"stat -c %U:%a {site}/index.html {site}/nested/deep")
    assert owners == "instapod:644\ninstapod:755\n"

    # Without a path, into the app root.
    ok(await upload(api, "unpacker", [("archive", "a.tar.gz", targz({"from-root.txt": b"r"}))],
                    route="files/unpack"))  # fmt: skip
    assert await sh(api, "unpacker", "cat from-root.txt") == "r"

    # An archive that reaches out, holds links, or is not an archive: 400, nothing written.
    before = await sh(api, "unpacker", f"cd {site}/.. && find . | sort")
    small = targz({"ok.txt": b"ok"})
    for members in (
        {"ok.txt": b"ok", "../x": b"out"},
        {"ok.txt": b"ok", "a/../../x": b"out"},
        {"ok.txt": b"ok", "/tmp/abs.txt": b"out"},
    ):
        fails(await upload(api, "unpacker", form(targz(members), []), route="files/unpack"), 400)
    with_link = targz({"ok.txt": b"ok"}, links={"etc": "/etc"})
    fails(await upload(api, "unpacker", form(with_link, []), route="files/unpack"), 400, "link")
    fails(await upload(api, "unpacker", form(b"not a tar at all" * 100, []),
                       route="files/unpack"), 400)  # fmt: skip
    fails(await upload(api, "unpacker", form(small[: len(small) // 2], []),
                       route="files/unpack"), 400)  # fmt: skip
    for deletes in (["../keep.txt"], ["/var/www/site/keep.txt"], ["a/../../x"], [""]):
        fails(await upload(api, "unpacker", form(small, deletes), route="files/unpack"), 400)
    fails(await upload(api, "unpacker", form(small, [], path="/etc"), route="files/unpack"), 400)
    fails(await upload(api, "unpacker", [("path", None, b"/tmp")], route="files/unpack"), 400)
    # A member that cannot be put in place (a file where a folder is) fails before any moves.
    clash = targz({"index.html": b"clash", "nested/deep": b"a file where a folder is"})
    fails(await upload(api, "unpacker", form(clash, ["keep.txt"]), route="files/unpack"), 400)
    assert await sh(api, "unpacker", f"cd {site}/.. && find . | sort") == before
    assert "x" not in (await sh(api, "unpacker", "ls -A /var/www /tmp")).split()
    assert await sh(api, "unpacker", f"cat {site}/index.html {site}/keep.txt") == (
        "<h1>new</h1>keep\n"
    )

    found = await events(api, "unpacker", "files_unpacked")
    assert {e["actor"] for e in found} == {owner.email}
    assert sorted(e["message"] for e in found) == [
        f"Unpacked 1 files (1 bytes) into {APP}",
        f"Unpacked 3 files (18 bytes) into {site}, deleted 2",
    ]


async def test_a_write_that_does_not_fit_on_the_disk_is_413_and_leaves_nothing(
    api: Client, worker: None
) -> None:
    await running_pod(api, "tight")
    url = files_url("tight")
    await put(api, "tight", f"{APP}/keep.txt", "kept")
    await sh(api, "tight", "head -c 3000000 /dev/urandom > three.bin")
    free = int(await sh(api, "tight", "df -B1 --output=avail . | tail -1"))
    assert free > 500 * MIB  # the plan's 1 GB disk
    await sh(api, "tight", f"fallocate -l {free - 2 * MIB} fill.bin && sync")
    listing = await ls(api, "tight")
    usage = ok(await api.get("/api/pods/tight/disk-usage"))["used_bytes"]
    left = int(await sh(api, "tight", "df -B1 --output=avail . | tail -1"))
    changes = "file_saved,file_uploaded,file_copied,files_unpacked"
    recorded = len(await events(api, "tight", changes))

    four = "x" * (4 * MIB)
    for response in (
        await api.put(f"{url}/content", json={"path": f"{APP}/keep.txt", "content": four}),
        await api.put(f"{url}/content", json={"path": "/tmp/new.txt", "content": four}),
        await upload(api, "tight", [("file", "keep.txt", os.urandom(4 * MIB))]),
        await upload(
            api, "tight", [("path", None, b"/var/www"), ("file", "new.bin", os.urandom(4 * MIB))]
        ),
        await upload(
            api,
            "tight",
            [("archive", "a.tgz", targz({"n.bin": os.urandom(4 * MIB)}))],
            route="files/unpack",
        ),
        await api.post(
            f"{url}/copy",
            json={"source_path": f"{APP}/three.bin", "destination_path": f"{APP}/copy.bin"},
        ),
    ):
        fails(response, 413, "space")
    assert await ls(api, "tight") == listing
    assert await sh(api, "tight", "cat keep.txt; ls -A /var/www /tmp") == "kept/tmp:\n\n/var/www:\n"
    now_left = int(await sh(api, "tight", "sync; df -B1 --output=avail . | tail -1"))
    assert abs(now_left - left) < MIB, (left, now_left)
    after = ok(await api.get("/api/pods/tight/disk-usage"))["used_bytes"]
    assert abs(after - usage) < MIB, (usage, after)
    assert len(await events(api, "tight", changes)) == recorded  # nothing happened
    # With room again, the same write works.
    await sh(api, "tight", "rm fill.bin")
    await put(api, "tight", f"{APP}/keep.txt", four)
    assert await sh(api, "tight", "stat -c %s keep.txt") == f"{4 * MIB}\n"


async def test_a_stopped_pods_files_can_be_used(api: Client, worker: None) -> None:
    await running_pod(api, "sleeper")
    url = files_url("sleeper")
    stopped = await api.post("/api/pods/sleeper/stop")
    assert (stopped.status_code, stopped.json()["status"]) == (200, "stopped"), stopped.text

    await put(api, "sleeper", f"{APP}/dir/a.txt", "a")
    ok(await upload(api, "sleeper", [("path", None, f"{APP}/dir".encode()),
                                     ("file", "b.bin", b"bb")]))  # fmt: skip
    ok(await api.post("/api/pods/sleeper/folders", json={"path": "/var/www/made"}))
    ok(await api.post(f"{url}/copy", json={"source_path": f"{APP}/dir",
                                           "destination_path": f"{APP}/copy"}))  # fmt: skip
    ok(await api.post(f"{url}/rename", json={"old_path": f"{APP}/copy/a.txt",
                                             "new_path": "/tmp/a.txt"}))  # fmt: skip
    ok(await upload(api, "sleeper", [("archive", "x.tgz", targz({"t/u.txt": b"u"}))],
                    route="files/unpack"))  # fmt: skip
    ok(await api.delete(url, params={"path": f"{APP}/copy/b.bin"}))
    assert await names(api, "sleeper", f"{APP}/dir") == ["a.txt", "b.bin"]
    assert ok(await api.get(f"{url}/content", params={"path": "/tmp/a.txt"}))["content"] == "a"
    download = await api.get(f"{url}/download", params={"path": f"{APP}/dir/b.bin"})
    assert (download.status_code, download.content) == (200, b"bb")
    manifest = ok(await api.get(f"{url}/manifest", params={"exclude": "app.py"}))
    assert [f["path"] for f in manifest["files"]] == ["dir/a.txt", "dir/b.bin", "t/u.txt"]
    assert (await api.get("/api/pods/sleeper")).json()["status"] == "stopped"  # still

    started = await api.post("/api/pods/sleeper/start")
    assert started.status_code == 200, started.text
    found = await sh(api, "sleeper", "find dir copy t /var/www/made /tmp/a.txt -printf '%u %p\\n'")
    assert sorted(found.splitlines()) == [
        "instapod /tmp/a.txt",
        "instapod /var/www/made",
        "instapod copy",
        "instapod dir",
        "instapod dir/a.txt",
        "instapod dir/b.bin",
        "instapod t",
        "instapod t/u.txt",
    ]
    result = await run(api, "sleeper", "cat /tmp/a.txt t/u.txt")
    assert result["stdout"] == "au"


async def test_a_body_that_is_not_multipart_is_400(api: Client, worker: None) -> None:
    await running_pod(api, "plain")
    for route in ("files/upload", "files/unpack"):
        refused = await api.post(files_url("plain", route), json={"file": "x"})
        fails(refused, 400, "multipart")


async def test_text_over_10_mb_is_413(api: Client, worker: None) -> None:
    await running_pod(api, "verbose")
    too_big = {"path": f"{APP}/huge.txt", "content": "a" * (10 * MIB + 1)}
    fails(await api.put(files_url("verbose", "files/content"), json=too_big), 413, "upload")
    assert "huge.txt" not in await ls(api, "verbose")


async def test_text_that_is_not_valid_unicode_is_not_saved(api: Client, worker: None) -> None:
    await running_pod(api, "surrogate")
    body = b'{"path": "/tmp/s.txt", "content": "a\\ud800b"}'
    saved = await api.put(files_url("surrogate", "files/content"), content=body,
                          headers={"Content-Type": "application/json"})  # fmt: skip
    read = await api.get(files_url("surrogate", "files/content"), params={"path": "/tmp/s.txt"})
    # Either it is refused and nothing is written, or what was saved reads back as text.
    answers = (saved.status_code, read.status_code)
    assert answers in ((400, 404), (200, 200)), (saved.text, read.text)


async def test_a_field_after_the_file_gets_one_answer_however_the_body_is_cut(
    api: Client, worker: None
) -> None:
    await running_pod(api, "late")
    await sh(api, "late", "echo stale > stale.txt")
    archive = targz({"new.txt": b"new"})
    body, headers = multipart([("path", None, APP.encode()), ("archive", "a.tgz", archive),
                               ("delete", None, b"stale.txt")])  # fmt: skip
    url = files_url("late", "files/unpack")
    small_pieces = await api.post(url, content=chunked(body, 16), headers=headers)
    one_piece = await api.post(url, content=body, headers=headers)
    assert small_pieces.status_code == one_piece.status_code, (small_pieces.text, one_piece.text)
    upload_body, upload_headers = multipart([("file", "x.txt", b"x"), ("path", None, b"/tmp")])
    upload_url = files_url("late", "files/upload")
    in_pieces = await api.post(upload_url, content=chunked(upload_body, 16),
                               headers=upload_headers, params={"path": APP})  # fmt: skip
    whole = await api.post(upload_url, content=upload_body, headers=upload_headers,
                           params={"path": APP})  # fmt: skip
    assert in_pieces.status_code == whole.status_code, (in_pieces.text, whole.text)
