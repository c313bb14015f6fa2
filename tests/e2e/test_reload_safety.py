"""A reload that cannot succeed changes nothing: a dependency that does not exist, or a new
version that crashes at start, answers 400 with the tool's (or the app's) output, and the
version already running keeps answering through the edge."""

from __future__ import annotations

import json
import uuid

from tests.e2e.support import Platform
from tests.e2e.test_presets import EXPRESS_PACKAGE, EXPRESS_SERVER

MISSING = f"instapods-e2e-missing-{uuid.uuid4().hex[:12]}"  # not on npm, not on PyPI


def _express(platform: Platform, name: str) -> str:
    """A pod running the Express app; returns its page."""
    platform.running_pod(name, "nodejs")
    platform.write_files(name, {"package.json": EXPRESS_PACKAGE, "server.js": EXPRESS_SERVER})
    reloaded = platform.reload(name)
    assert reloaded.status_code == 200, reloaded.text
    return platform.wait_page(name, "Hello from Express")


def test_an_npm_package_that_does_not_exist(platform: Platform) -> None:
    page = _express(platform, "shop")
    package = json.loads(EXPRESS_PACKAGE)
    package["dependencies"][MISSING] = "^1.0.0"
    platform.write_files("shop", {
        "package.json": json.dumps(package),
        "server.js": "require('express'); require('" + MISSING + "'); // v2",
    })  # fmt: skip

    reloaded = platform.reload("shop")
    assert reloaded.status_code == 400, reloaded.text
    error = reloaded.json()["error"]
    assert error.startswith("npm install failed (exit code ")
    assert "E404" in error  # npm's own words
    assert MISSING in error

    assert platform.visit("shop").text == page  # the old version, with its node_modules
    assert platform.pod("shop")["status"] == "running"
    assert platform.exec("shop", "test -f node_modules/express/package.json")["exit_code"] == 0


def test_a_pip_package_that_does_not_exist(platform: Platform) -> None:
    platform.running_pod("pyapp", "python")
    starter = platform.wait_page("pyapp", "pyapp is live")
    platform.write_files("pyapp", {"requirements.txt": f"flask\n{MISSING}==1.0\n"})

    reloaded = platform.reload("pyapp")
    assert reloaded.status_code == 400, reloaded.text
    error = reloaded.json()["error"]
    assert error.startswith("pip install failed (exit code 1)")
    assert f"No matching distribution found for {MISSING}" in error

    assert platform.visit("pyapp").text == starter
    assert platform.pod("pyapp")["status"] == "running"
    assert platform.exec("pyapp", "test ! -e venv")["exit_code"] == 0  # no half install linked


def test_a_new_version_that_crashes_at_start(platform: Platform) -> None:
    page = _express(platform, "crashy")
    platform.write_files("crashy", {
        "server.js": "require('express');\nthrow new Error('boom: no DATABASE_URL');",
    })  # fmt: skip

    reloaded = platform.reload("crashy")
    assert reloaded.status_code == 400, reloaded.text
    error = reloaded.json()["error"]
    assert "did not start" in error
    assert "the previous version keeps running" in error
    assert "boom: no DATABASE_URL" in error  # the app's own output

    assert platform.visit("crashy").text == page
    pod = platform.pod("crashy")
    assert pod["status"] == "running"
    assert platform.exec("crashy", "test -f node_modules/express/package.json")["exit_code"] == 0


def test_a_python_app_that_crashes_at_start(platform: Platform) -> None:
    platform.running_pod("flaky", "python")
    starter = platform.wait_page("flaky", "flaky is live")
    platform.write_files("flaky", {"app.py": "import sys\nsys.exit('cannot start: no config')"})

    reloaded = platform.reload("flaky")
    assert reloaded.status_code == 400, reloaded.text
    assert "cannot start: no config" in reloaded.json()["error"]
    assert platform.visit("flaky").text == starter
    assert platform.pod("flaky")["status"] == "running"


def test_reloads_in_quick_succession_each_install_apart(platform: Platform) -> None:
    """Each install goes to a build of its own, also when two start in the same second (they
    would otherwise install into the build the running version uses). Reloads without
    dependencies take well under a second, so some of these start in the same second."""
    platform.running_pod("quick", "nodejs")  # the starter: a package.json without dependencies
    targets = []
    for _ in range(6):
        assert platform.reload("quick").status_code == 200
        targets.append(platform.exec("quick", "readlink node_modules")["stdout"].strip())
    assert len(set(targets)) == len(targets), targets
    assert "quick is live" in platform.visit("quick").text
