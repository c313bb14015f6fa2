"""`exec` passes the command's output and exit code through; every `--json` output parses (the
flag before or after the command); `logs -f` follows and stops cleanly on Ctrl-C."""

from __future__ import annotations

import json
import signal
import subprocess
import uuid
from pathlib import Path

from tests.cli.support import Cli, names, write_tree
from tests.e2e.support import Platform


def test_exec_json_and_logs(platform: Platform, cli: Cli, tmp_path: Path) -> None:
    site = write_tree(tmp_path / "box", {"index.html": "<h1>the box</h1>"})
    deployed = cli("deploy", "box", "--local", site)
    assert deployed.code == 0, deployed
    assert deployed.stdout == f"Live at http://{platform.host('box')}\n", deployed

    check_exec(cli)
    check_json(platform, cli)
    check_logs(platform, cli)


def check_exec(cli: Cli) -> None:
    seven = cli("exec", "box", "--", "sh", "-c", "exit 7")
    assert (seven.code, seven.stdout, seven.stderr) == (7, "", ""), seven

    both = cli("exec", "box", "--", "echo to-out; echo to-err >&2; exit 3")
    assert (both.code, both.stdout, both.stderr) == (3, "to-out\n", "to-err\n"), both

    # Several words are quoted and joined; what follows `--` is the command's, even --json.
    words = cli("exec", "box", "--", "printf", "%s|", "two words", "--json", "$HOME")
    assert (words.code, words.stdout) == (0, "two words|--json|$HOME|"), words
    where = cli("exec", "box", "--", "pwd; whoami")
    assert (where.code, where.stdout) == (0, "/home/instapod/app\ninstapod\n"), where

    for argv in (["--json", "exec", "box"], ["exec", "box", "--json"]):
        result = cli(*argv, "--", "sh", "-c", "echo out; echo err >&2; exit 7")
        assert result.code == 7, result
        assert result.stderr == "", result
        body = result.json()
        assert (body["exit_code"], body["stdout"], body["stderr"]) == (7, "out\n", "err\n")
        assert body["timed_out"] is False

    slow = cli("exec", "box", "--timeout", "1", "--json", "--", "sleep 10")
    assert slow.code != 0, slow
    assert slow.json()["timed_out"] is True


def check_json(platform: Platform, cli: Cli) -> None:
    def run(*argv: str) -> object:
        result = cli(*argv)
        assert result.code == 0, result
        assert result.stderr == "", result
        return result.json()

    before = run("--json", "pods", "list")
    assert before == run("pods", "list", "--json")
    assert isinstance(before, dict)
    assert [pod["name"] for pod in before["pods"]] == ["box"]
    assert before["total"] == 1

    pod = run("pods", "get", "box", "--json")
    assert isinstance(pod, dict)
    assert (pod["name"], pod["preset"], pod["status"]) == ("box", "static", "running")
    assert pod == platform.pod("box") | {"updated_at": pod["updated_at"]}

    me = run("whoami", "--json")
    assert isinstance(me, dict)
    assert me["user"]["email"] == "e2e@example.com"
    assert me["team"]["current"] is True
    assert me["api"] == platform.url

    listing = run("--json", "files", "ls", "box")
    assert isinstance(listing, dict)
    assert listing["path"] == "/home/instapod/app"
    assert names(listing) == {"index.html"}
    (entry,) = listing["files"]
    assert (entry["size"], entry["is_dir"]) == (str(len("<h1>the box</h1>")), False)

    saved = run("env", "set", "box", "GREETING=hello world", "EMPTY=", "URL=a=b", "--json")
    assert saved == {"env_vars": {"GREETING": "hello world", "EMPTY": "", "URL": "a=b"}}
    assert run("env", "unset", "box", "EMPTY", "--json") == {
        "env_vars": {"GREETING": "hello world", "URL": "a=b"}
    }
    assert run("env", "list", "box", "--json") == {
        "env_vars": {"GREETING": "hello world", "URL": "a=b"}
    }
    assert run("--json", "env", "list", "box") == platform.api("GET", "/api/pods/box/env").json()

    presets = run("presets", "--json")
    assert isinstance(presets, dict)
    assert {p["slug"] for p in presets["presets"]} == {"static", "php", "nodejs", "python"}
    plans = run("--json", "plans")
    assert isinstance(plans, dict)
    assert [p["slug"] for p in plans["plans"]][:2] == ["launch", "build"]
    assert run("plans", "--json") == platform.api("GET", "/api/plans").json()


def check_logs(platform: Platform, cli: Cli) -> None:
    # The deploy's own check left an access log line: the last lines, as JSON lines.
    recent = cli("logs", "box", "-n", "5", "--json")
    assert recent.code == 0, recent
    lines = [json.loads(line) for line in recent.stdout.splitlines()]
    assert lines, recent
    assert all({"timestamp", "service", "stream", "message"} <= set(line) for line in lines)

    marker = f"/follow-{uuid.uuid4().hex}"
    with cli.background("logs", "box", "-f") as follow:
        follow.wait_for_line("GET ", timeout=20)  # what was there already
        assert platform.visit("box", marker).status_code == 404
        follow.wait_for_line(marker, timeout=20)  # a new line, printed as it came
        follow.process.send_signal(signal.SIGINT)  # Ctrl-C (by the PID we started)
        try:
            code = follow.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            raise AssertionError("logs -f did not stop within 5 s of SIGINT") from None
        follow.join()
        assert code == 0, follow.stderr
        assert follow.stderr == "", follow.stderr  # no traceback, no "interrupted"
        assert sum(marker in line for line in follow.lines) == 1, follow.lines
