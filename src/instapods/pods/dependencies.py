"""Installing an app's dependencies beside the running version, then switching atomically.

Python gets a fresh venv under ~/.instapods and `app/venv` is relinked to it; Node gets a
fresh `node_modules` built from copies of the manifests and `app/node_modules` is relinked.
A failed install leaves the old link, so the running version never sees a half install.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from instapods.errors import BadRequest
from instapods.platform import Platform
from instapods.pods import podside
from instapods.pods.presets import APP, Facts
from instapods.runtime.base import ExecResult, PodSpec

BUILDS = "/home/instapod/.instapods"
INSTALL_TIMEOUT = 900.0
TAIL = 4000


@dataclass(frozen=True)
class Installed:
    tool: str | None
    installed: bool
    output_tail: str
    link: str | None = None  # the link that was switched
    previous: str | None = None  # where it pointed before (for a rollback)


def tail(result: ExecResult) -> str:
    return (result.stdout + result.stderr)[-TAIL:]


async def _run(platform: Platform, spec: PodSpec, argv: list[str], tool: str,
               cwd: str = APP) -> ExecResult:  # fmt: skip
    result = await platform.runtime.exec(spec, argv, timeout=INSTALL_TIMEOUT, cwd=cwd)
    if result.exit_code != 0:
        verb = "timed out" if result.timed_out else f"failed (exit code {result.exit_code})"
        raise BadRequest(f"{tool} install {verb}:\n{tail(result)}")
    return result


async def _link(platform: Platform, spec: PodSpec, link: str, target: str) -> None:
    await _run(platform, spec, podside.relink(link, target), "link")


async def install(platform: Platform, spec: PodSpec, preset: str, facts: Facts,
                  previous_target: str | None) -> Installed:  # fmt: skip
    # To the microsecond (kit.clock.utcnow drops them): two reloads in the same second must
    # not share, and so install into, the build the running version uses.
    stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S%f")
    if preset == "python" and "requirements.txt" in facts.files:
        build = f"{BUILDS}/venv-{stamp}"
        await _run(platform, spec, ["/usr/bin/python3", "-m", "venv", build], "pip")
        result = await _run(platform, spec, [
            f"{build}/bin/pip", "install", "--disable-pip-version-check", "--no-input",
            "-r", f"{APP}/requirements.txt",
        ], "pip")  # fmt: skip
        await _link(platform, spec, f"{APP}/venv", build)
        await _prune(platform, spec, "venv-", [build, previous_target])
        return Installed("pip", True, tail(result), f"{APP}/venv", previous_target)
    if preset == "nodejs" and "package.json" in facts.files:
        build = f"{BUILDS}/node-{stamp}"
        await _run(platform, spec, podside.stage(build), "npm")
        locked = "package-lock.json" in facts.files or "npm-shrinkwrap.json" in facts.files
        argv = ["/usr/bin/npm", "ci" if locked else "install", "--no-audit", "--no-fund"]
        result = await _run(platform, spec, argv, "npm", cwd=build)
        await _link(platform, spec, f"{APP}/node_modules", f"{build}/node_modules")
        await _prune(platform, spec, "node-", [build, (previous_target or "").rsplit("/", 1)[0]])
        return Installed("npm", True, tail(result), f"{APP}/node_modules", previous_target)
    if preset == "php" and "composer.json" in facts.files:
        composer = platform.runtimes.get("composer")
        if composer is None or not composer.versions:
            raise BadRequest("composer.json needs composer, which is not installed on this server")
        argv = [composer.programs[composer.versions[0]], "install", "--no-dev", "--no-interaction"]
        result = await _run(platform, spec, argv, "composer")
        return Installed("composer", True, tail(result))
    return Installed(None, False, "")


async def _prune(platform: Platform, spec: PodSpec, prefix: str, keep: list[str | None]) -> None:
    kept = [k for k in keep if k]
    await platform.runtime.exec(spec, podside.prune(BUILDS, prefix, kept), timeout=120)


async def rollback(platform: Platform, spec: PodSpec, installed: Installed) -> None:
    """Point the dependency link back where it was before the install."""
    if installed.link is None:
        return
    if installed.previous:
        await _link(platform, spec, installed.link, installed.previous)
    else:
        await platform.runtime.exec(spec, ["/bin/rm", "-f", "--", installed.link], timeout=30)
