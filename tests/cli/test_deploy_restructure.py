"""A redeploy after the folder's layout changed: a file that became a folder (about.html's
content moved to docs/index.html under the same name "docs") and a folder that became a file."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.cli.support import Cli, write_tree
from tests.e2e.support import Platform


def test_a_redeploy_turns_a_file_into_a_folder_and_a_folder_into_a_file(
    platform: Platform, cli: Cli, tmp_path: Path
) -> None:
    site = write_tree(tmp_path / "site", {
        "index.html": "<h1>home</h1>", "docs": "the docs, one file", "pages/a.html": "<p>a</p>",
    })  # fmt: skip
    first = cli("deploy", "site", "--local", site, "--json")
    assert first.code == 0, first

    (site / "docs").unlink()
    shutil.rmtree(site / "pages")
    write_tree(site, {"docs/index.html": "<p>the docs, a folder</p>", "pages": "one page now"})
    second = cli("deploy", "site", "--local", site, "--json")
    assert second.code == 0, second
    body = second.json()
    assert sorted(body["uploaded"]) == ["docs/index.html", "pages"]
    assert sorted(body["deleted"]) == ["docs", "pages"]  # the folder goes whole
    assert "the docs, a folder" in platform.visit("site", "/docs/").text
    assert cli("files", "cat", "site", "pages").stdout == "one page now"
