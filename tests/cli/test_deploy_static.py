"""`instapods deploy` of a static site, then redeploys: only what changed travels, what was
removed is deleted, and what is excluded (by default, `--exclude`, `.instapodsignore`) is
neither sent nor deleted in the pod."""

from __future__ import annotations

from pathlib import Path

from tests.cli.support import APP, Cli, names, write_tree
from tests.e2e.support import Platform

SITE: dict[str, str | bytes] = {
    "index.html": "<!doctype html><title>Home</title><h1>Hello from the CLI, v1</h1>",
    "pages/about.html": "<!doctype html><h1>About the CLI sample</h1>",
    "old.html": "<p>about to go</p>",
    ".instapodsignore": "# kept on this machine\n*.psd\ndrafts/\n",
    "design.psd": b"8BPS\x00\x01 a layered image",
    "drafts/wip.html": "<p>not ready</p>",
    "pages/drafts/later.html": "<p>not ready either</p>",
    # default excludes, at the top and deeper
    "node_modules/left-pad/index.js": "module.exports = () => 'pad'",
    ".git/HEAD": "ref: refs/heads/main\n",
    ".env": "SECRET=on-my-laptop\n",
    "__pycache__/tool.cpython-311.pyc": b"\x00\x01compiled",
    "pages/__pycache__/x.pyc": b"\x00\x02",
    "venv/bin/python": "#!/bin/sh\n",
    ".venv/pyvenv.cfg": "home = /usr\n",
    "vendor/lib.php": "<?php",
    ".DS_Store": b"\x00\x00\x00\x01Bud1",
}


def ls(cli: Cli, pod: str, path: str = APP) -> set[str]:
    result = cli("files", "ls", pod, path, "--json")
    assert result.code == 0, result
    return names(result.json())


def test_deploy_a_static_site_and_redeploy_what_changed(
    platform: Platform, cli: Cli, tmp_path: Path
) -> None:
    site = write_tree(tmp_path / "site", SITE)
    url = f"http://{platform.host('site')}"

    # The first deploy: the pod is made with the preset the files say.
    first = cli("deploy", "site", "--local", site, "--json")
    assert first.code == 0, first
    assert first.stderr == "", first  # --json: no notes, no progress
    body = first.json()
    assert body["pod"] == "site"
    assert body["url"] == url
    assert sorted(body["uploaded"]) == [".instapodsignore", "index.html", "old.html",
                                        "pages/about.html"]  # fmt: skip
    assert body["status"] == 200
    assert body["reload"]["services"] == ["nginx"]
    assert platform.pod("site")["preset"] == "static"
    home = platform.visit("site")
    assert home.status_code == 200
    assert "Hello from the CLI, v1" in home.text
    assert "About the CLI sample" in platform.visit("site", "/pages/about.html").text

    # Nothing excluded reached the pod (and the starter page is gone).
    assert ls(cli, "site") == {".instapodsignore", "index.html", "old.html", "pages"}
    assert ls(cli, "site", "pages") == {"about.html"}  # "drafts/" matches at any depth

    # Files of the pod that match the excludes: never deleted by a deploy.
    for path, content in {
        ".env": "SECRET=in-the-pod",
        "node_modules/installed/index.js": "module.exports = 1",
        "drafts/remote.html": "<p>written in the pod</p>",
        "cover.psd": "layers",
    }.items():
        saved = platform.api("PUT", "/api/pods/site/files/content",
                             json={"path": f"{APP}/{path}", "content": content})  # fmt: skip
        assert saved.status_code == 200, saved.text

    # One file changed, one removed, one new file left out with --exclude.
    write_tree(site, {"index.html": "<!doctype html><h1>Hello from the CLI, v2</h1>",
                      "notes.txt": "a local note"})  # fmt: skip
    (site / "old.html").unlink()
    second = cli("deploy", "site", "--local", site, "--exclude", "*.txt", "--json")
    assert second.code == 0, second
    body = second.json()
    assert body["uploaded"] == ["index.html"]
    assert body["deleted"] == ["old.html"]
    assert body["unchanged"] == 2  # .instapodsignore, pages/about.html
    assert "Hello from the CLI, v2" in platform.visit("site").text
    assert platform.visit("site", "/old.html").status_code == 404
    assert ls(cli, "site") == {".env", ".instapodsignore", "cover.psd", "drafts", "index.html",
                               "node_modules", "pages"}  # fmt: skip
    assert ls(cli, "site", "drafts") == {"remote.html"}
    env = cli("files", "cat", "site", ".env")
    assert (env.code, env.stdout) == (0, "SECRET=in-the-pod"), env

    # A redeploy without --json says the pod exists; one more change travels alone.
    write_tree(site, {"pages/about.html": "<!doctype html><h1>About, revised</h1>"})
    third = cli("deploy", "site", "--exclude", "*.txt", cwd=site)  # --local defaults to "."
    assert third.code == 0, third
    assert third.stdout == f"Live at {url}\n", third
    assert "Pod exists (static · running)" in third.stderr.splitlines(), third
    assert "Uploaded 1 file, deleted 0, 2 unchanged" in third.stderr, third
    assert "About, revised" in platform.visit("site", "/pages/about.html").text

    # Nothing changed: nothing travels (and --no-reload skips the reload).
    fourth = cli("deploy", "site", "--local", site, "--exclude", "*.txt", "--no-reload",
                 "--json")  # fmt: skip
    assert fourth.code == 0, fourth
    assert fourth.json() == {"pod": "site", "url": url, "uploaded": [], "deleted": [],
                             "unchanged": 3}  # fmt: skip
    assert "notes.txt" not in ls(cli, "site")
