from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from instapods.auth.dependencies import CurrentUser
from instapods.db import SessionDep
from instapods.kit.schema import Status
from instapods.models import Pod
from instapods.platform import PlatformDep
from instapods.pods import operations, runtime_view, service
from instapods.pods.output import pod_out
from instapods.pods.schemas import (
    CloneIn,
    DiskUsageOut,
    EnvIn,
    EnvOut,
    EventOut,
    EventsOut,
    ExecIn,
    ExecOut,
    LogLineOut,
    LogsOut,
    PodCreateIn,
    PodOut,
    PodsOut,
    PresetInfoOut,
    ReloadOut,
    ResizeIn,
)
from instapods.pods.service import Caller
from instapods.ratelimits import rate_limited
from instapods.teams.scope import current_team

router = APIRouter(prefix="/api/pods", tags=["pods"])


async def caller(session: SessionDep, platform: PlatformDep, user: CurrentUser) -> Caller:
    return Caller(session, platform, await current_team(session, user))


CallerDep = Annotated[Caller, Depends(caller)]


async def _out(who: Caller, pod: Pod) -> PodOut:
    await who.session.flush()
    await who.session.refresh(pod)
    return pod_out(who.platform, pod, await runtime_view.live_state(who.platform, pod))


@router.get("")
async def list_pods(
    who: CallerDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 25,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> PodsOut:
    """The current team's pods with their live status."""
    pods, total, counts = await service.list_pods(who, limit, offset)
    return PodsOut(pods=pods, total=total, limit=limit, offset=offset, status_counts=counts)


@router.post("", status_code=202, dependencies=[Depends(rate_limited("pod_create"))])
async def create_pod(body: PodCreateIn, who: CallerDep) -> PodOut:
    """Create a pod; it is provisioned in the background (`status: creating`)."""
    return await _out(who, await service.create(who, body))


@router.get("/{name}")
async def get_pod(name: str, who: CallerDep) -> PodOut:
    return await _out(who, await service.find(who, name))


@router.delete("/{name}")
async def delete_pod(name: str, who: CallerDep) -> Status:
    """Delete a pod with its files and processes; its name stays reserved for 7 days."""
    await service.delete(who, name)
    return Status(status="deleted")


@router.post("/{name}/start")
async def start_pod(name: str, who: CallerDep) -> PodOut:
    return await _out(who, await service.start(who, name))


@router.post("/{name}/stop")
async def stop_pod(name: str, who: CallerDep) -> PodOut:
    return await _out(who, await service.stop(who, name))


@router.post("/{name}/restart")
async def restart_pod(name: str, who: CallerDep) -> PodOut:
    """Restart every service; dependencies are not reinstalled."""
    return await _out(who, await service.restart(who, name))


@router.post("/{name}/reload")
async def reload_pod(name: str, who: CallerDep) -> ReloadOut:
    """Install dependencies and switch to the new version once it starts."""
    return await operations.reload(who, name)


@router.post("/{name}/resize")
async def resize_pod(name: str, body: ResizeIn, who: CallerDep) -> PodOut:
    return await _out(who, await service.resize(who, name, body.plan_slug))


@router.post("/{name}/clone", status_code=202)
async def clone_pod(name: str, body: CloneIn, who: CallerDep) -> PodOut:
    """A new pod with this pod's files, env vars, cron jobs and workers."""
    return await _out(who, await service.clone(who, name, body))


@router.get("/{name}/preset")
async def get_preset(name: str, who: CallerDep) -> PresetInfoOut:
    return await operations.preset_info(who, name)


@router.get("/{name}/disk-usage")
async def disk_usage(name: str, who: CallerDep) -> DiskUsageOut:
    return await operations.disk_usage(who, name)


@router.post("/{name}/exec")
async def exec_command(name: str, body: ExecIn, who: CallerDep) -> ExecOut:
    """Run a command in the pod as `instapod` in /home/instapod/app (bash -lc)."""
    return await operations.execute(who, name, body.command, body.timeout_seconds)


@router.get("/{name}/env")
async def get_env(name: str, who: CallerDep) -> EnvOut:
    return EnvOut(env_vars=await operations.get_env(who, name))


@router.put("/{name}/env")
async def put_env(name: str, body: EnvIn, who: CallerDep) -> EnvOut:
    """Replace the env vars; they apply at the next reload or restart."""
    return EnvOut(env_vars=await operations.put_env(who, name, body.env_vars))


@router.get("/{name}/events")
async def list_events(
    name: str,
    who: CallerDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 25,
    offset: Annotated[int, Query(ge=0)] = 0,
    type: Annotated[str | None, Query(max_length=200)] = None,
) -> EventsOut:
    types = [t.strip() for t in (type or "").split(",") if t.strip()]
    events, total = await operations.events(who, name, types, limit, offset)
    return EventsOut(events=[EventOut.model_validate(e) for e in events], total=total,
                     limit=limit, offset=offset)  # fmt: skip


@router.get("/{name}/logs")
async def get_logs(
    name: str,
    who: CallerDep,
    lines: Annotated[int, Query(ge=1, le=5000)] = 100,
    service_name: Annotated[
        str | None, Query(alias="service", pattern=r"^[a-z][a-z0-9-]{0,40}$")
    ] = None,
) -> LogsOut:
    """The last lines of the pod's services (`service` to pick one)."""
    found = await operations.logs(who, name, service_name, lines)
    return LogsOut(pod=name, lines=[LogLineOut.model_validate(line) for line in found])
