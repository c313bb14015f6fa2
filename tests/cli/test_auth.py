"""`auth login` stores the API and the token in $XDG_CONFIG_HOME/instapods/config.json (0600 in
a 0700 folder) so later commands need no variable; `auth logout` revokes the token on the
server and forgets it."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import httpx

from tests.cli.support import Cli, error_line
from tests.e2e.support import EMAIL, PASSWORD, Platform


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def status_with(platform: Platform, token: str) -> int:
    response = httpx.get(f"{platform.url}/api/auth/user", timeout=30, trust_env=False,
                         headers={"Authorization": f"Bearer {token}"})  # fmt: skip
    return response.status_code


def fresh_token(platform: Platform) -> str:
    """Another session of the platform's account (logging it out leaves the platform's own)."""
    response = httpx.post(f"{platform.url}/api/auth/login", timeout=30, trust_env=False,
                          json={"email": EMAIL, "password": PASSWORD})  # fmt: skip
    assert response.status_code == 200, response.text
    token: str = response.json()["token"]
    return token


def test_login_and_logout(platform: Platform, tmp_path: Path) -> None:
    check_login_with_a_token(platform, Cli(home=tmp_path / "a"))
    check_login_with_email_and_password(platform, Cli(home=tmp_path / "b", api=platform.url))


def check_login_with_a_token(platform: Platform, bare: Cli) -> None:
    """No INSTAPODS_API, no INSTAPODS_TOKEN: --api, then the config file, say where."""
    token = fresh_token(platform)

    # A token the API refuses is not stored.
    refused = bare("--api", platform.url, "auth", "login", "--with-token", "ipt_" + "x" * 43)
    assert refused.code == 4, refused
    error_line(refused)
    assert not bare.config_file.exists()

    login = bare("--api", platform.url, "auth", "login", "--with-token", token)
    assert login.code == 0, login
    assert login.stdout == f"Signed in to {platform.url} as {EMAIL}\n", login
    assert json.loads(bare.config_file.read_text()) == {
        "api": platform.url,
        "tokens": {platform.url: token},  # a token is only ever sent to its own API
    }
    assert mode(bare.config_file) == 0o600
    assert mode(bare.config_file.parent) == 0o700
    assert [p.name for p in bare.config_file.parent.iterdir()] == ["config.json"]

    # From now on the config file says where and who.
    me = bare("whoami", "--json")
    assert me.code == 0, me
    assert (me.json()["user"]["email"], me.json()["api"]) == (EMAIL, platform.url)
    listed = bare("pods", "list")
    assert listed.code == 0, listed
    assert "No pods yet" in listed.stderr

    logout = bare("auth", "logout")
    assert logout.code == 0, logout
    assert logout.stdout == "Signed out\n", logout
    assert json.loads(bare.config_file.read_text())["tokens"] == {}
    assert mode(bare.config_file) == 0o600
    assert status_with(platform, token) == 401  # revoked on the server, not only forgotten
    assert status_with(platform, str(platform.token)) == 200  # the other session stays

    after = bare("whoami")
    assert after.code == 4, after
    assert error_line(after).endswith("(sign in with `instapods auth login`) (401)")


def check_login_with_email_and_password(platform: Platform, bare: Cli) -> None:
    """No terminal: the email prompt and getpass read stdin (the prompts go to stderr)."""

    wrong = bare("auth", "login", input=f"{EMAIL}\nnot the password\n")
    assert wrong.code == 4, wrong
    assert wrong.stderr.splitlines()[-1].startswith("error: Invalid email or password"), wrong
    assert not bare.config_file.exists()

    login = bare("auth", "login", input=f"{EMAIL}\n{PASSWORD}\n")
    assert login.code == 0, login
    assert login.stdout.strip() == f"Signed in to {platform.url} as {EMAIL}", login
    assert "Password:" in login.stderr, login
    assert PASSWORD not in login.stdout + login.stderr
    config = json.loads(bare.config_file.read_text())
    assert config["api"] == platform.url
    stored = {"token": config["tokens"][platform.url]}
    assert stored["token"].startswith("ipt_")
    assert stored["token"] != platform.token  # a session of its own
    assert (mode(bare.config_file), mode(bare.config_file.parent)) == (0o600, 0o700)
    assert status_with(platform, stored["token"]) == 200

    # --email given: only the password is read; --json prints the result as JSON.
    again = bare.but(api=None)("auth", "login", "--email", EMAIL, "--json",
                               input=f"{PASSWORD}\n")  # fmt: skip
    assert again.code == 0, again
    body = again.json()
    assert (body["user"]["email"], body["api"]) == (EMAIL, platform.url)
    assert body["config"] == str(bare.config_file)
    token = json.loads(bare.config_file.read_text())["tokens"][platform.url]
    assert token != stored["token"]

    whoami = bare.but(api=None)("whoami")
    assert whoami.code == 0, whoami
    assert whoami.stdout.startswith(f"{EMAIL} on {platform.url}"), whoami
    out = bare.but(api=None)("auth", "logout", "--json")
    assert out.code == 0, out
    assert out.json() == {"status": "logged_out"}
    assert status_with(platform, token) == 401
