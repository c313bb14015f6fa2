"""What a team does with a running pod: reload, exec, env, logs, events, inspection."""

from __future__ import annotations

from instapods.catalog.presets import BY_SLUG
from instapods.errors import BadRequest
from instapods.models import Pod, PodEvent
from instapods.pods import dependencies, repository, runtime_view
from instapods.pods.presets import APP, Plan
from instapods.pods.schemas import (
    DependenciesOut,
    DiskPathOut,
    DiskUsageOut,
    ExecOut,
    PresetInfoOut,
    ReloadOut,
)
from instapods.pods.service import Caller, find, find_for_change, publish, record
from instapods.runtime.base import LogLine, PodSpec
from instapods.teams.permissions import Permission

TRIAL_TIMEOUT = 30.0
DISK_AREAS = ("/home/instapod", "/var/www", "/tmp")  # noqa: S108 (the pod's, not ours)


async def reload(caller: Caller, name: str) -> ReloadOut:
    """Install dependencies, check the new version starts, then switch to it.

    A failed install or a new version that does not start leaves the old one running and
    answers 400 with the tool's (or the app's) last output.
    """
    pod = await find_for_change(caller, name)
    platform = caller.platform
    bare = runtime_view.bare_spec(platform, pod)
    before = await runtime_view.facts(platform, bare)
    link = {"python": "venv", "nodejs": "node_modules"}.get(pod.preset, "")
    installed = await dependencies.install(platform, bare, pod.preset, before,
                                           before.links.get(link))  # fmt: skip
    try:
        spec, detected = await runtime_view.plan(platform, pod, bare)
        await _trial(caller, pod, spec, detected)
    except BaseException:
        await dependencies.rollback(platform, bare, installed)
        raise
    await platform.runtime.start(spec)
    pod.status, pod.status_message = "running", None
    tool = installed.tool or "no dependencies"
    await record(caller, pod, "reloaded", f"Pod {pod.name} reloaded ({tool})")
    await publish(platform, pod)
    return ReloadOut(
        status="reloaded",
        services=[s.name for s in spec.services],
        dependencies=DependenciesOut(
            tool=installed.tool, installed=installed.installed, output_tail=installed.output_tail
        ),
    )


async def _trial(caller: Caller, pod: Pod, spec: PodSpec, detected: Plan) -> None:
    app = next((s for s in detected.services if s.name == "app"), None)
    if app is None:
        return
    ok, output = await caller.platform.runtime.trial(spec, "app", TRIAL_TIMEOUT)
    if not ok:
        raise BadRequest(
            f"The new version of {pod.name} did not start (it must listen on port "
            f"{app.port}); the previous version keeps running.\n{output}"
        )


async def execute(caller: Caller, name: str, command: str, timeout: float) -> ExecOut:
    pod = await find_for_change(caller, name)
    spec = runtime_view.bare_spec(caller.platform, pod)
    result = await caller.platform.runtime.exec(spec, ["/bin/bash", "-lc", command],
                                                timeout=timeout, cwd=APP)  # fmt: skip
    await record(caller, pod, "exec", f"Ran: {command[:200]} (exit {result.exit_code})")
    return ExecOut(exit_code=result.exit_code, stdout=result.stdout, stderr=result.stderr,
                   duration_ms=result.duration_ms, timed_out=result.timed_out)  # fmt: skip


async def get_env(caller: Caller, name: str) -> dict[str, str]:
    pod = await find(caller, name)
    return runtime_view.env_of(caller.platform, pod)


async def put_env(caller: Caller, name: str, env: dict[str, str]) -> dict[str, str]:
    pod = await find(caller, name)
    caller.access.require(Permission.MANAGE_PODS)
    runtime_view.seal_env(caller.platform, pod, env)
    await record(
        caller,
        pod,
        "env_updated",
        f"Environment set: {', '.join(sorted(env)) or 'none'} (applied at next restart)",
    )
    return env


async def events(caller: Caller, name: str, types: list[str], limit: int,
                 offset: int) -> tuple[list[PodEvent], int]:  # fmt: skip
    pod = await find(caller, name)
    return await repository.events(caller.session, pod, types, limit, offset)


async def logs(caller: Caller, name: str, service: str | None, lines: int) -> list[LogLine]:
    pod = await find(caller, name)
    return await caller.platform.runtime.logs(pod.id, service, lines)


async def preset_info(caller: Caller, name: str) -> PresetInfoOut:
    pod = await find(caller, name)
    preset = BY_SLUG[pod.preset]
    _, detected = await runtime_view.plan(caller.platform, pod)
    runtime = caller.platform.runtimes.get(preset.runtime or preset.web_server or "")
    return PresetInfoOut(
        slug=preset.slug, name=preset.name, runtime=preset.runtime,
        version=runtime.default if runtime else None, app_port=pod.app_port,
        web_server=preset.web_server, dependency_file=preset.dependency_file,
        dependency_tool=detected.dependency_tool or preset.dependency_tool,
        start_command=detected.start_command, webroot=detected.webroot,
    )  # fmt: skip


async def disk_usage(caller: Caller, name: str) -> DiskUsageOut:
    pod = await find(caller, name)
    platform = caller.platform
    usage = await platform.runtime.usage(pod.id)
    spec = runtime_view.bare_spec(platform, pod)
    result = await platform.runtime.exec(spec, ["/usr/bin/du", "-s", "-b", "--", *DISK_AREAS],
                                         timeout=60, cwd="/")  # fmt: skip
    paths = []
    for line in result.stdout.splitlines():
        size, _, path = line.partition("\t")
        if size.isdigit():
            paths.append(DiskPathOut(path=path, bytes=int(size)))
    limit = usage.disk_limit_bytes or pod.disk_gb * 1024**3
    percent = round(100 * usage.disk_bytes / limit, 1) if limit else 0.0
    return DiskUsageOut(used_bytes=usage.disk_bytes, limit_bytes=limit, percent=percent,
                        paths=paths)  # fmt: skip
