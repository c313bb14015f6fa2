"""What the API refuses, as the CLI says it: one line on stderr starting with "error:",
nothing on stdout, and an exit code of its kind (1 refused, 2 command line, 4 not signed in)."""

from __future__ import annotations

from pathlib import Path

from tests.cli.support import Cli, as_user, error_line, register, write_tree
from tests.e2e.support import Platform, eventually


def test_what_the_api_refuses(platform: Platform, cli: Cli, tmp_path: Path) -> None:
    other = register(platform, "other-team@example.com")
    try:
        check_refusals(platform, cli, tmp_path, other)
    finally:  # the platform deletes its own account's pods only
        deleted = as_user(platform, other, "DELETE", "/api/pods/taken")
        assert deleted.status_code in (200, 404), deleted.text


def check_refusals(platform: Platform, cli: Cli, tmp_path: Path, other: str) -> None:
    # Another team owns "taken": a deploy into it is the API's 409, and changes nothing there.
    created = as_user(platform, other, "POST", "/api/pods",
                      json={"name": "taken", "preset": "static"})  # fmt: skip
    assert created.status_code == 202, created.text
    theirs = eventually(lambda: as_user(platform, other, "GET", "/api/pods/taken").json(),
                        lambda pod: pod["status"] != "creating", 60, "taken running")  # fmt: skip
    assert theirs["status"] == "running", theirs
    starter = platform.wait_page("taken", "taken is live")
    listing = as_user(platform, other, "GET", "/api/pods/taken/files").json()

    site = write_tree(tmp_path / "site", {"index.html": "<h1>mine, not theirs</h1>"})
    for extra in ([], ["--json"]):
        refused = cli("deploy", "taken", "--local", site, *extra)
        assert refused.code == 1, refused
        line = error_line(refused)
        assert "taken" in line, refused
        assert line.endswith("(409)"), refused

    after = as_user(platform, other, "GET", "/api/pods/taken").json()
    assert (after["id"], after["status"], after["preset"]) == (theirs["id"], "running", "static")
    assert as_user(platform, other, "GET", "/api/pods/taken/files").json() == listing
    assert platform.visit("taken").text == starter
    mine = cli("pods", "list", "--json")
    assert mine.code == 0, mine
    assert mine.json()["pods"] == []  # the failed deploy made no pod of ours either

    # A pod that is not there (nor ours): 404, exit 1.
    for argv in (["pods", "get", "nope"], ["--json", "pods", "get", "nope"],
                 ["exec", "taken", "--", "true"], ["logs", "nope"],
                 ["files", "ls", "nope"], ["env", "list", "taken"]):  # fmt: skip
        missing = cli(*argv)
        assert missing.code == 1, missing
        assert error_line(missing) == "error: Pod not found (404)", missing

    # A folder the CLI cannot tell the preset of: a usage error, and no pod made.
    unknown = cli("deploy", "mystery", "--local", write_tree(tmp_path / "x", {"notes.md": "hi"}))
    assert unknown.code == 2, unknown
    assert "pass --preset" in error_line(unknown)
    assert platform.api("GET", "/api/pods/mystery").status_code == 404

    # A token the API does not know: exit 4, whatever the command, wherever the token comes from.
    bad = "ipt_" + "x" * 43
    for result in (cli.but(token=bad)("whoami"),
                   cli.but(token=bad)("deploy", "site", "--local", site, "--json"),
                   cli("--token", bad, "pods", "list"),
                   cli("pods", "list", "--token", bad),
                   cli.but(token=None)("pods", "list")):  # fmt: skip
        assert result.code == 4, result
        line = error_line(result)
        assert line.endswith("(sign in with `instapods auth login`) (401)"), result
