"""What a team does with a running pod: exec, env vars, resize, clone, preset detection, disk
usage and reload (dependencies installed beside the running version).

The plans here are small (1 and 2 GB disks) so that a resize can be made not to fit by
filling the disk with `fallocate`.
"""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path

import pytest
from fastapi import FastAPI

from instapods.config import PlanConfig, Settings
from tests.auth.support import with_changes
from tests.fixtures.errors import error_of, fields_of
from tests.fixtures.http import Client
from tests.fixtures.pods import wait_for_status
from tests.pods.support import (
    Rows,
    address,
    event_types,
    fetch,
    fetch_once_up,
    platform_of,
    run,
    running_pod,
    sh,
    state,
)
from tests.runtime.support import SandboxHost

MIB = 1024**2
GIB = 1024**3
PLANS = [
    PlanConfig(slug="launch", name="Launch", cpu=1, memory_mb=256, disk_gb=1, price_cents=100),
    PlanConfig(slug="build", name="Build", cpu=2, memory_mb=512, disk_gb=2, price_cents=200),
]
# A python app that answers with its version and one env var.
APP_PY = """\
import os
from http.server import BaseHTTPRequestHandler, HTTPServer

VERSION = "{version}"


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        body = f"{{VERSION}} {{os.environ.get('GREETING', '-')}}".encode()
        self.send_response(200)
        self.end_headers()
        self.wfile.write(body)


HTTPServer(("0.0.0.0", int(os.environ["PORT"])), Handler).serve_forever()
"""


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return with_changes(settings, plans=[plan.model_dump() for plan in PLANS])


async def write(api: Client, name: str, path: str, content: str) -> None:
    """Write a file in the pod's app folder (through exec, as the pod's user)."""
    await sh(api, name, f"cat > {path} <<'INSTAPODS_EOF'\n{content}\nINSTAPODS_EOF")


async def page(app: FastAPI, pod_id: str, port: int = 8000) -> str:
    response = await fetch(await address(app, pod_id), port)
    assert response.status_code == 200, response.text
    return response.text


async def page_once_up(app: FastAPI, pod_id: str) -> str:
    response = await fetch_once_up(await address(app, pod_id), 8000)
    assert response.status_code == 200, response.text
    return response.text


def commands(app: FastAPI, pod_id: str) -> list[bytes]:
    """The command lines of every process in the pod, read on the host."""
    found = []
    for pid in SandboxHost(platform_of(app).runtime).processes(pod_id):
        with contextlib.suppress(OSError):
            found.append(Path(f"/proc/{pid}/cmdline").read_bytes())
    return found


async def test_exec_runs_as_the_pods_user_in_the_app_folder(
    api: Client, app: FastAPI, worker: None
) -> None:
    pod = await running_pod(api, "shell", customizations={"env_vars": {"FOO": "bar baz"}})

    result = await run(api, "shell", "id -un; pwd; printenv FOO; echo to-stderr >&2; exit 3")
    assert result["exit_code"] == 3
    assert result["stdout"] == "instapod\n/home/instapod/app\nbar baz\n"
    assert result["stderr"] == "to-stderr\n"
    assert result["timed_out"] is False
    assert isinstance(result["duration_ms"], int)
    assert set(result) == {"exit_code", "stdout", "stderr", "duration_ms", "timed_out"}
    quoted = await run(api, "shell", "printf '%s|' \"$0\" 'it''s' $((6 * 7))")
    assert quoted["stdout"].endswith("|its|42|")

    slow = await run(api, "shell", "echo started; sleep 30; echo never", timeout_seconds=0.5)
    assert (slow["timed_out"], slow["exit_code"]) == (True, 124)
    assert slow["stdout"] == "started\n"
    assert slow["duration_ms"] < 10_000
    assert not any(  # the timed-out command was killed, and what it started with it
        b"sleep\x0030" in cmdline for cmdline in commands(app, pod["id"])
    )

    for body in (
        {"command": ""},
        {"command": "true", "timeout_seconds": 0},
        {"command": "true", "timeout_seconds": 3601},
        {},
    ):
        response = await api.post("/api/pods/shell/exec", json=body)
        assert response.status_code == 400, body
        error_of(response.json())
    exec_events = await api.get("/api/pods/shell/events", params={"type": "exec"})
    assert exec_events.json()["total"] == 3  # the three commands that ran, not the refused ones


async def test_env_vars_are_replaced_sealed_and_applied_at_restart(
    api: Client, app: FastAPI, rows: Rows, worker: None
) -> None:
    pod = await running_pod(api, "envy", customizations={"env_vars": {"GREETING": "hello"}})
    await write(api, "envy", "app.py", APP_PY.format(version="v1"))
    assert (await api.post("/api/pods/envy/restart")).status_code == 200
    assert await page(app, pod["id"]) == "v1 hello"

    async def env() -> dict[str, str]:
        response = await api.get("/api/pods/envy/env")
        assert response.status_code == 200
        found: dict[str, str] = response.json()["env_vars"]
        return found

    async def sealed() -> str | None:
        row = await rows.pod("envy")
        assert row is not None
        return row.env_sealed

    assert await env() == {"GREETING": "hello"}
    stored = await sealed()
    assert stored is not None
    assert "hello" not in stored
    assert "GREETING" not in stored

    replaced = await api.put("/api/pods/envy/env", json={"env_vars": {"GREETING": "bonjour"}})
    assert replaced.status_code == 200
    assert replaced.json() == {"env_vars": {"GREETING": "bonjour"}}
    assert await page(app, pod["id"]) == "v1 hello"  # applied at the next restart
    assert (await api.post("/api/pods/envy/restart")).status_code == 200
    assert await page(app, pod["id"]) == "v1 bonjour"
    assert "bonjour" not in (await sealed() or "")

    await api.put("/api/pods/envy/env", json={"env_vars": {"OTHER": "x"}})
    assert await env() == {"OTHER": "x"}  # PUT replaces: GREETING is gone
    assert (await api.get("/api/pods/envy")).json()["customizations"]["env_vars"] == {"OTHER": "x"}
    bad = await api.put("/api/pods/envy/env", json={"env_vars": {"NOT-VALID": "x"}})
    assert bad.status_code == 400
    assert fields_of(bad.json()) == ["env_vars"]
    assert await env() == {"OTHER": "x"}
    await api.put("/api/pods/envy/env", json={"env_vars": {}})
    assert await env() == {}
    assert await sealed() is None
    assert (await api.post("/api/pods/envy/restart")).status_code == 200
    assert await page(app, pod["id"]) == "v1 -"
    updates = await api.get("/api/pods/envy/events", params={"type": "env_updated"})
    assert updates.json()["total"] == 3


async def test_resize_changes_the_limits_and_refuses_a_disk_too_small(
    api: Client, app: FastAPI, worker: None
) -> None:
    pod = await running_pod(api, "elastic")
    host = SandboxHost(platform_of(app).runtime)
    runtime = platform_of(app).runtime
    assert host.memory_limit(pod["id"]) == 256 * MIB
    await sh(api, "elastic", "echo kept > note.txt")

    grown = await api.post("/api/pods/elastic/resize", json={"plan_slug": "build"})
    assert grown.status_code == 200, grown.text
    assert grown.json()["plan_slug"] == "build"
    assert grown.json()["resources"] == {"cpu": 2, "memory_mb": 512, "disk_gb": 2}
    assert host.memory_limit(pod["id"]) == 512 * MIB
    assert (await runtime.usage(pod["id"])).disk_limit_bytes > 1.5 * GIB
    again = await wait_for_status(api, "elastic", {"running", "stopped", "error"})
    assert again["status"] == "running", again  # the app came back if it had to stop
    assert "elastic is live" in await page_once_up(app, pod["id"])

    await sh(api, "elastic", "fallocate -l 1300M big.bin")
    refused = await api.post("/api/pods/elastic/resize", json={"plan_slug": "launch"})
    assert refused.status_code == 400, refused.text
    assert "launch" in error_of(refused.json())
    after = (await api.get("/api/pods/elastic")).json()
    assert (after["status"], after["plan_slug"]) == ("running", "build")
    assert after["resources"] == {"cpu": 2, "memory_mb": 512, "disk_gb": 2}
    assert "elastic is live" in await page(app, pod["id"])
    assert (await runtime.usage(pod["id"])).disk_limit_bytes > 1.5 * GIB

    await sh(api, "elastic", "rm big.bin")
    shrunk = await api.post("/api/pods/elastic/resize", json={"plan_slug": "launch"})
    assert shrunk.status_code == 200, shrunk.text
    assert shrunk.json()["resources"] == {"cpu": 1, "memory_mb": 256, "disk_gb": 1}
    assert host.memory_limit(pod["id"]) == 256 * MIB
    assert (await runtime.usage(pod["id"])).disk_limit_bytes < 1.1 * GIB
    back = await wait_for_status(api, "elastic", {"running", "stopped", "error"})
    assert back["status"] == "running", back
    assert await sh(api, "elastic", "cat note.txt") == "kept\n"
    assert "elastic is live" in await page_once_up(app, pod["id"])

    same = await api.post("/api/pods/elastic/resize", json={"plan_slug": "launch"})
    assert same.status_code == 200
    unknown = await api.post("/api/pods/elastic/resize", json={"plan_slug": "huge"})
    assert unknown.status_code == 400
    events = (await api.get("/api/pods/elastic/events", params={"type": "resized"})).json()
    assert [e["message"] for e in events["events"]] == [
        "Pod elastic resized from build to launch",
        "Pod elastic resized from launch to build",
    ]


async def test_a_refused_resize_keeps_the_old_limits(
    api: Client, app: FastAPI, worker: None
) -> None:
    pod = await running_pod(api, "stubborn", plan_slug="build")
    host = SandboxHost(platform_of(app).runtime)
    await sh(api, "stubborn", "fallocate -l 1300M big.bin")
    refused = await api.post("/api/pods/stubborn/resize", json={"plan_slug": "launch"})
    assert refused.status_code == 400
    assert host.memory_limit(pod["id"]) == 512 * MIB


async def test_clone_copies_files_env_vars_cron_jobs_and_workers(
    api: Client, app: FastAPI, worker: None
) -> None:
    custom = {
        "env_vars": {"SECRET": "s3cr3t"},
        "cron_jobs": [{"schedule": "0 3 * * *", "command": "echo nightly"}],
        "workers": [{"name": "queue", "command": "exec sleep 1000"}],
    }
    source = await running_pod(api, "origin", customizations=custom)
    await sh(api, "origin", "mkdir -p data && echo from-origin > data/note.txt")
    await sh(api, "origin", "echo shared > /var/www/shared.txt")

    response = await api.post("/api/pods/origin/clone", json={"name": "copy", "plan_slug": "build"})
    assert response.status_code == 202, response.text
    clone = response.json()
    assert clone["id"] != source["id"]
    assert (clone["name"], clone["status"], clone["preset"]) == ("copy", "creating", "python")
    assert (clone["plan_slug"], clone["resources"]["disk_gb"]) == ("build", 2)
    assert clone["customizations"] == custom
    clone = await wait_for_status(api, "copy", {"running", "error"})
    assert clone["status"] == "running", clone

    listing = await sh(api, "copy", "stat -c '%U %n' data/note.txt /var/www/shared.txt")
    assert listing == "instapod data/note.txt\ninstapod /var/www/shared.txt\n"
    assert await sh(api, "copy", "cat data/note.txt /var/www/shared.txt") == "from-origin\nshared\n"
    assert await sh(api, "copy", "printenv SECRET") == "s3cr3t\n"
    services = {s.name for s in (await state(app, clone["id"])).services}
    assert services == {"app", "worker-queue"}
    assert "copy is live" not in await page(app, clone["id"])  # the source's app, not a starter
    assert "origin is live" in await page(app, clone["id"])
    # On the host, the copied files belong to the clone's own user.
    host = SandboxHost(platform_of(app).runtime)
    disk = host.state_dir(clone["id"]) / "disk"
    assert os.stat(disk / "home" / "app" / "data" / "note.txt").st_uid == host.host_uid(clone["id"])
    assert host.host_uid(clone["id"]) != host.host_uid(source["id"])

    assert await sh(api, "origin", "cat data/note.txt") == "from-origin\n"  # the source is intact
    events = (await api.get("/api/pods/copy/events", params={"type": "created"})).json()
    assert events["events"][0]["message"] == "Pod copy cloned from origin"
    for body, status in (
        ({"name": "copy"}, 409),
        ({"name": "Bad"}, 400),
        ({"name": "x", "region": "mars"}, 400),
    ):
        refused = await api.post("/api/pods/origin/clone", json=body)
        assert refused.status_code == status, (body, refused.text)
    missing = await api.post("/api/pods/nowhere/clone", json={"name": "other"})
    assert (missing.status_code, missing.json()) == (404, {"error": "Pod not found"})


async def test_preset_info_follows_the_apps_files(api: Client, app: FastAPI, worker: None) -> None:
    runtimes = platform_of(app).runtimes
    for preset in ("nodejs", "php", "python", "static"):
        await running_pod(api, f"info-{preset}", preset)

    async def info(preset: str) -> dict[str, object]:
        response = await api.get(f"/api/pods/info-{preset}/preset")
        assert response.status_code == 200, response.text
        found: dict[str, object] = response.json()
        return found

    app_root = "/home/instapod/app"
    starters = {
        "nodejs": ("Node.js", "node", 3000, None, "package.json", "npm",
                   "/usr/bin/node index.js", None),
        "php": ("PHP", "php", 80, "nginx", "composer.json", "composer", None, app_root),
        "python": ("Python", "python", 8000, None, "requirements.txt", "pip",
                   "/usr/bin/python3 app.py", None),
        "static": ("Static site", None, 80, "nginx", None, None, None, app_root),
    }  # fmt: skip
    keys = ("name", "runtime", "app_port", "web_server", "dependency_file", "dependency_tool",
            "start_command", "webroot")  # fmt: skip
    for preset, values in starters.items():
        found = await info(preset)
        assert found["slug"] == preset
        version = runtimes["nginx" if preset == "static" else str(values[1])].default
        assert found["version"] == version is not None
        assert {key: found[key] for key in keys} == dict(zip(keys, values, strict=True)), preset

    await write(api, "info-nodejs", "package.json", '{"scripts": {"start": "node server.js"}}')
    assert (await info("nodejs"))["start_command"] == "/usr/bin/npm start"
    await write(api, "info-php", "composer.json", "{}")
    await sh(api, "info-php", "mkdir public")
    assert (await info("php"))["webroot"] == "/home/instapod/app/public"
    await write(api, "info-python", "requirements.txt", "Flask>=3\ngunicorn==22.0\n")
    await write(api, "info-python", "app.py", "from flask import Flask\napp = Flask(__name__)")
    python = await info("python")
    assert python["start_command"] == ("/usr/bin/python3 -m gunicorn --bind 0.0.0.0:8000 app:app")
    assert python["dependency_tool"] == "pip"


async def test_disk_usage_counts_the_pods_own_disk(api: Client, worker: None) -> None:
    await running_pod(api, "hoarder")
    await sh(api, "hoarder", "head -c 5000000 /dev/urandom > blob && sync")
    response = await api.get("/api/pods/hoarder/disk-usage")
    assert response.status_code == 200
    usage = response.json()
    assert set(usage) == {"used_bytes", "limit_bytes", "percent", "paths"}
    assert 5_000_000 <= usage["used_bytes"] < 100 * MIB
    assert 0.9 * GIB < usage["limit_bytes"] <= GIB  # the launch plan's 1 GB, less the fs's own
    assert usage["percent"] == round(100 * usage["used_bytes"] / usage["limit_bytes"], 1)
    paths = {p["path"]: p["bytes"] for p in usage["paths"]}
    assert set(paths) == {"/home/instapod", "/var/www", "/tmp"}
    assert paths["/home/instapod"] >= 5_000_000
    assert paths["/tmp"] < 1_000_000


async def test_reload_installs_dependencies_and_keeps_the_old_version_on_failure(
    api: Client, app: FastAPI, worker: None
) -> None:
    pod = await running_pod(api, "reloader")
    await write(api, "reloader", "requirements.txt", "six")
    await write(api, "reloader", "app.py", "import six\n" + APP_PY.format(version="v1"))

    reloaded = await api.post("/api/pods/reloader/reload")
    assert reloaded.status_code == 200, reloaded.text
    body = reloaded.json()
    assert (body["status"], body["services"]) == ("reloaded", ["app"])
    assert (body["dependencies"]["tool"], body["dependencies"]["installed"]) == ("pip", True)
    assert "six" in body["dependencies"]["output_tail"]
    assert await page(app, pod["id"]) == "v1 -"
    venv = await sh(api, "reloader", "readlink venv")
    assert re.fullmatch(r"/home/instapod/\.instapods/venv-\S+\n", venv)  # a build beside the app

    await write(api, "reloader", "requirements.txt", "instapods-no-such-package-0000")
    await write(api, "reloader", "app.py", APP_PY.format(version="v2"))
    failed = await api.post("/api/pods/reloader/reload")
    assert failed.status_code == 400
    error = error_of(failed.json())
    assert error.startswith("pip install failed")
    assert "instapods-no-such-package-0000" in error  # pip's own output
    assert await page(app, pod["id"]) == "v1 -"
    assert await sh(api, "reloader", "readlink venv") == venv

    await write(api, "reloader", "requirements.txt", "six")
    await write(api, "reloader", "app.py", "raise SystemExit('boom: no database')")
    crashed = await api.post("/api/pods/reloader/reload")
    assert crashed.status_code == 400
    error = error_of(crashed.json())
    assert "did not start" in error
    assert "boom: no database" in error  # the app's own output
    assert await page(app, pod["id"]) == "v1 -"
    assert await sh(api, "reloader", "readlink venv") == venv
    assert (await api.get("/api/pods/reloader")).json()["status"] == "running"
    events = (await api.get("/api/pods/reloader/events", params={"type": "reloaded"})).json()
    assert event_types(events["events"]) == ["reloaded"]
