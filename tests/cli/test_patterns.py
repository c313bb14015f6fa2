"""The CLI and the pod's manifest must leave out the same files: deploy compares the two lists,
so a pattern read differently on each side would upload or delete the wrong files. The files
agent runs inside pods with the standard library only, so the rule is written twice; this
keeps the two the same."""

from __future__ import annotations

import pytest

from instapods.cli.deploy import excluded as cli_excluded
from instapods.runtime.drivers.sandbox.files_agent import excluded as pod_excluded

PATHS = ["node_modules", "a/node_modules", "build", "src/build", "x.log", "logs/app.log",
         "lib/skip.txt", "lib/sub/skip.txt", "README.md", "a/b/c.txt", ".env"]  # fmt: skip
PATTERNS = [["node_modules"], ["/build"], ["*.log"], ["/*.log"], ["lib/*.txt"], ["*/b/*"],
            [".env", "README.*"], ["a/*"], []]  # fmt: skip


@pytest.mark.parametrize("patterns", PATTERNS, ids=lambda p: ",".join(p) or "none")
def test_the_cli_and_the_pod_leave_out_the_same_paths(patterns: list[str]) -> None:
    for path in PATHS:
        name = path.rsplit("/", 1)[-1]
        assert cli_excluded(path, patterns) == pod_excluded(name, path, patterns), path


def test_what_the_rule_says() -> None:
    assert cli_excluded("a/node_modules", ["node_modules"])  # a name, at any depth
    assert cli_excluded("build", ["/build"])
    assert not cli_excluded("src/build", ["/build"])  # a leading / anchors to the top
    assert not cli_excluded("logs/app.log", ["/*.log"])  # * does not cross a /
    assert cli_excluded("lib/skip.txt", ["lib/*.txt"])
    assert not cli_excluded("lib/sub/skip.txt", ["lib/*.txt"])
