"""What the CLI does with no server: it loads no server code, every command has a help with an
example, and a wrong command line or an API it cannot reach ends with one line and its own
exit code."""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import typer
import typer.core

from instapods.cli.deploy import excludes_of, local_files
from instapods.cli.main import app
from tests.cli.support import Cli, Result, error_line, write_tree
from tests.e2e.support import INSTAPODS

NOWHERE = "http://127.0.0.1:1"  # nothing listens on port 1: connection refused at once
CLIENT_MODULES = ["instapods", "instapods.cli", "instapods.cli.client", "instapods.cli.commands",
                  "instapods.cli.context", "instapods.cli.deploy", "instapods.cli.files",
                  "instapods.cli.main"]  # fmt: skip


def loaded_modules(code: str) -> list[str]:
    """The instapods modules a fresh interpreter has loaded after running `code`."""
    script = (f"{code}\nimport json, sys\nprint(json.dumps(sorted("
              "m for m in sys.modules if m.startswith('instapods'))))")  # fmt: skip
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60, check=True)  # fmt: skip
    found: list[str] = json.loads(done.stdout.splitlines()[-1])
    return found


def test_importing_the_client_loads_no_server_code() -> None:
    found = loaded_modules(
        "import instapods.cli.main, instapods.cli.commands, instapods.cli.files, "
        "instapods.cli.deploy, instapods.cli.client, instapods.cli.context"
    )
    assert found == CLIENT_MODULES


def test_running_a_client_command_loads_no_server_code() -> None:
    """A whole command run (here to an unreachable API, through the error path)."""
    found = loaded_modules(
        "import sys\nfrom instapods.cli.main import main\n"
        f"sys.argv = ['instapods', '--api', '{NOWHERE}', 'pods', 'list', '--json']\n"
        "try:\n    main()\nexcept SystemExit as done:\n    assert done.code == 3, done.code\n"
    )
    assert found == CLIENT_MODULES


def command_paths() -> tuple[list[list[str]], list[list[str]]]:
    """Every command and every group of the app (the root is a group), as argv prefixes."""
    commands: list[list[str]] = []
    groups: list[list[str]] = []

    def walk(command: object, path: list[str]) -> None:
        if isinstance(command, typer.core.TyperGroup):
            groups.append(path)
            for name, sub in command.commands.items():
                walk(sub, [*path, name])
        else:
            commands.append(path)

    walk(typer.main.get_command(app), [])
    return commands, groups


COMMANDS, GROUPS = command_paths()


def helps(cli: Cli, paths: list[list[str]]) -> list[Result]:
    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(lambda path: cli(*path, "--help", timeout=60), paths))


def has_example(result: Result) -> bool:
    return any(line.strip().startswith("Example:") for line in result.stdout.splitlines())


def test_the_walk_finds_every_command() -> None:
    found = {" ".join(path) for path in COMMANDS}
    assert {"deploy", "exec", "logs", "whoami", "auth login", "auth logout", "pods list",
            "pods get", "pods create", "pods delete", "files ls", "files sync", "files mv",
            "env set", "env list", "presets", "plans", "regions", "open", "version",
            "teams use"} <= found  # fmt: skip
    assert {"", "auth", "pods", "files", "env", "teams"} <= {" ".join(p) for p in GROUPS}


def test_every_command_has_a_help_with_an_example(tmp_path: Path) -> None:
    for result in helps(Cli(home=tmp_path, api=NOWHERE), COMMANDS):
        assert result.code == 0, result
        assert result.stdout.startswith(f"Usage: instapods {' '.join(result.args[:-1])}"), result
        assert has_example(result), result
        assert result.stderr == "", result


def test_the_root_help_has_an_example(tmp_path: Path) -> None:
    (result,) = helps(Cli(home=tmp_path, api=NOWHERE), [[]])
    assert result.code == 0, result
    assert has_example(result), result


def test_every_group_has_a_help_with_an_example(tmp_path: Path) -> None:
    results = helps(Cli(home=tmp_path, api=NOWHERE), [path for path in GROUPS if path])
    assert all(result.code == 0 for result in results), results
    lacking = [" ".join(result.args[:-1]) for result in results if not has_example(result)]
    assert lacking == []


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["frobnicate"], "No such command 'frobnicate'"),
        (["pods", "frobnicate"], "No such command 'frobnicate'"),
        (["pods", "get"], "Missing argument 'NAME'"),
        (["exec", "box"], "Missing argument"),
        (["files", "mv", "box", "a"], "Missing argument 'NEW'"),
        (["pods", "list", "--frobnicate"], "No such option: --frobnicate"),
        (["logs", "box", "-n", "many"], "Invalid value for '-n'"),
        (["--json", "env", "set", "box", "NOEQUALS"], "'NOEQUALS' is not KEY=VALUE"),
        (["--api", "ftp://example.com", "pods", "list"], "--api must be an http(s) URL"),
    ],
)
def test_a_wrong_command_line_is_one_line_and_exit_2(
    tmp_path: Path, argv: list[str], words: str
) -> None:
    # (No API answers: a wrong command line is found before any request.)
    result = Cli(home=tmp_path, api=NOWHERE, token="ipt_unused")(*argv, timeout=60)
    assert result.code == 2, result
    assert words in error_line(result)


@pytest.mark.parametrize(
    "argv",
    [
        ["--api", NOWHERE, "pods", "list"],
        ["pods", "list", "--json", "--api", NOWHERE],
        ["whoami", f"--api={NOWHERE}"],
        ["--api", NOWHERE, "exec", "box", "--", "true"],
        ["--api", NOWHERE, "presets"],
    ],
)
def test_an_unreachable_api_is_one_line_and_exit_3(tmp_path: Path, argv: list[str]) -> None:
    """--api (before or after the command) wins over INSTAPODS_API (here another port)."""
    result = Cli(home=tmp_path, api="http://127.0.0.1:9", token="ipt_unused")(*argv, timeout=60)
    assert result.code == 3, result
    assert error_line(result).startswith(f"error: cannot reach the API at {NOWHERE}")


def test_the_api_of_the_environment_may_end_with_api(tmp_path: Path) -> None:
    result = Cli(home=tmp_path, api=f"{NOWHERE}/api/", token="ipt_unused")("plans", timeout=60)
    assert result.code == 3, result
    assert error_line(result).startswith(f"error: cannot reach the API at {NOWHERE}:")


def test_a_leading_slash_anchors_an_ignore_pattern_to_the_folder(tmp_path: Path) -> None:
    """docs/cli.md: a pattern with "/" matches the path from the folder's root (as in
    .gitignore); a trailing "/" is ignored. (The folder walk of deploy and files sync,
    in-process: which files it would send.)"""
    folder = write_tree(tmp_path / "site", {
        ".instapodsignore": "/build/\n/notes.txt\n",
        "index.html": "home", "build/out.js": "built", "notes.txt": "mine",
        "src/build/keep.js": "source", "docs/notes.txt": "documentation",
    })  # fmt: skip
    sent = {f.path for f in local_files(folder, excludes_of(folder, []))}
    assert sent == {".instapodsignore", "index.html", "src/build/keep.js", "docs/notes.txt"}


def test_the_login_prompts_leave_stdout_alone(tmp_path: Path) -> None:
    """With --json stdout holds JSON only; here the login fails (no API), so it holds nothing."""
    result = Cli(home=tmp_path, api=NOWHERE)(
        "auth", "login", "--json", input="me@example.com\npw\n"
    )
    assert result.code == 3, result
    assert "Email:" in result.stderr, result
    assert result.stdout == "", result


def test_a_password_from_stdin_prints_no_python_warning(tmp_path: Path) -> None:
    result = Cli(home=tmp_path, api=NOWHERE)("auth", "login", "--email", "me@example.com",
                                             input="pw\n")  # fmt: skip
    assert result.code == 3, result
    assert "Password:" in result.stderr, result
    assert "Warning" not in result.stderr, result
    assert "getpass.py" not in result.stderr, result


def test_shell_completion_completes_commands() -> None:
    def complete(words: str) -> list[str]:
        env = {"COMP_WORDS": words, "COMP_CWORD": str(len(words.split()) - 1),
               "_INSTAPODS_COMPLETE": "complete_bash", "PATH": "/usr/bin:/bin"}  # fmt: skip
        done = subprocess.run([str(INSTAPODS)], env=env, capture_output=True, text=True,
                              timeout=30, check=False)  # fmt: skip
        assert done.returncode == 0, done.stderr
        return done.stdout.split()

    assert complete("instapods po") == ["pods"]
    assert complete("instapods pods re") == ["restart", "reload", "resize"]
    assert "sync" in complete("instapods files s")
