"""Pods: the rules of creating, running, changing and deleting them.

Every function takes the caller's `TeamAccess` (from the one scoping helper): a pod of another
team is `Pod not found`. Work that takes long or must survive a restart (provisioning,
clean-up after delete) goes through the job queue; quick lifecycle actions run in the request.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from instapods.catalog.presets import BY_SLUG
from instapods.catalog.service import missing_runtimes
from instapods.config import PlanConfig
from instapods.errors import BadRequest, Conflict, NoCapacity, NotFound
from instapods.kit.clock import utcnow
from instapods.kit.ids import new_id
from instapods.models import Pod
from instapods.platform import Platform
from instapods.pods import repository, runtime_view
from instapods.pods.output import pod_out
from instapods.pods.schemas import CloneIn, Customizations, PodCreateIn, PodOut
from instapods.runtime.errors import DiskTooSmall
from instapods.teams.permissions import Permission
from instapods.teams.scope import TeamAccess
from instapods.worker.queue import enqueue

NAME_RESERVATION = timedelta(days=7)
POD_NOT_FOUND = "Pod not found"
PROVISION = "pod.provision"
DESTROY = "pod.destroy"


@dataclass(frozen=True)
class Caller:
    session: AsyncSession
    platform: Platform
    access: TeamAccess

    @property
    def actor(self) -> str:
        return self.access.user.email


async def record(caller: Caller, pod: Pod, type_: str, message: str) -> None:
    await repository.add_event(caller.session, pod, type_, message, caller.actor)


async def list_pods(
    caller: Caller, limit: int, offset: int
) -> tuple[list[PodOut], int, dict[str, int]]:
    """A page of the team's pods, and the count of every live status across all of them."""
    caller.access.require(Permission.VIEW)
    pods, total = await repository.team_pods(caller.session, caller.access, limit, offset)
    page = [
        pod_out(caller.platform, pod, await runtime_view.live_state(caller.platform, pod))
        for pod in pods
    ]
    everyone, _ = await repository.team_pods(caller.session, caller.access, 10_000, 0)
    counts: dict[str, int] = {}
    for pod in everyone:
        status, _ = runtime_view.status_of(pod, await runtime_view.live_state(caller.platform, pod))
        counts[status] = counts.get(status, 0) + 1
    return page, total, counts


async def find(caller: Caller, name: str) -> Pod:
    caller.access.require(Permission.VIEW)
    pod = await repository.live_pod(caller.session, caller.access, name)
    if pod is None:
        raise NotFound(POD_NOT_FOUND)
    return pod


async def find_for_change(caller: Caller, name: str) -> Pod:
    pod = await find(caller, name)
    caller.access.require(Permission.MANAGE_PODS)
    if pod.status in ("creating", "deleting"):
        raise Conflict(f"Pod {name} is {pod.status}; try again in a moment")
    if pod.status == "suspended":
        raise Conflict(f"Pod {name} is suspended")
    return pod


def plan_of(platform: Platform, slug: str) -> PlanConfig:
    for plan in platform.settings.plans:
        if plan.slug == slug:
            return plan
    known = ", ".join(p.slug for p in platform.settings.plans)
    raise BadRequest(f"Unknown plan {slug!r} (plans: {known})")


def _check_preset(platform: Platform, slug: str) -> None:
    preset = BY_SLUG.get(slug)
    if preset is None:
        raise BadRequest(f"Unknown preset {slug!r} (presets: {', '.join(BY_SLUG)})")
    missing = missing_runtimes(preset, platform.runtimes)
    if missing:
        raise BadRequest(
            f"This server cannot run {slug} pods: {', '.join(missing)} is not installed "
            f"(install it on the host, e.g. apt-get install {' '.join(_packages(missing))})"
        )


def _packages(missing: list[str]) -> list[str]:
    names = {"php": "php-fpm", "node": "nodejs", "python": "python3", "nginx": "nginx-light"}
    return [names.get(m, m) for m in missing]


def _check_region(platform: Platform, region: str | None, server_id: str | None) -> None:
    if region is not None and region != platform.settings.region:
        raise BadRequest(f"Unknown region {region!r} (regions: {platform.settings.region})")
    if server_id is not None and server_id != platform.server.id:
        raise BadRequest(f"Unknown server {server_id!r}")


async def _claim_name(caller: Caller, name: str) -> None:
    existing = await repository.by_name(caller.session, name)
    if existing is None:
        return
    if existing.deleted_at is None:
        raise Conflict(f"The pod name {name!r} is already in use; pick another name")
    if utcnow() - existing.deleted_at < NAME_RESERVATION:
        raise Conflict(f"The name {name} belonged to a deleted pod and is reserved for 7 days")
    await repository.purge(caller.session, existing)


async def _check_capacity(caller: Caller, memory_mb: int) -> None:
    settings = caller.platform.settings
    pods, memory = await repository.capacity_use(caller.session, caller.platform.server.id)
    if pods >= settings.max_pods:
        raise NoCapacity(f"This server is full ({settings.max_pods} pods); try again later")
    budget = caller.platform.host_memory_mb * settings.memory_overcommit
    if memory + memory_mb > budget:
        raise NoCapacity("This server has no memory left for this plan; try a smaller plan")


async def _free_slot(caller: Caller) -> int:
    used = await repository.used_slots(caller.session)
    slot = 1
    # Namespaces are host-wide: skip slots another installation on this host holds.
    while slot in used or not caller.platform.runtime.slot_free(slot):
        slot += 1
    return slot


async def _new_pod(caller: Caller, name: str, preset: str, plan: PlanConfig,
                   description: str | None, custom: Customizations) -> Pod:  # fmt: skip
    await _claim_name(caller, name)
    await _check_capacity(caller, plan.memory_mb)
    pod = Pod(
        id=new_id("pod"), team_id=caller.access.team.id, name=name, preset=preset,
        plan_slug=plan.slug, status="creating", status_message=None,
        region=caller.platform.settings.region, server_id=caller.platform.server.id,
        description=description, slot=await _free_slot(caller), cpu=plan.cpu,
        memory_mb=plan.memory_mb, disk_gb=plan.disk_gb, app_port=BY_SLUG[preset].app_port,
        cron_jobs=[job.model_dump() for job in custom.cron_jobs],
        workers=[worker.model_dump() for worker in custom.workers],
        created_by=caller.access.user.id,
    )  # fmt: skip
    runtime_view.seal_env(caller.platform, pod, custom.env_vars)
    caller.session.add(pod)
    try:
        await caller.session.flush()
    except IntegrityError:  # a concurrent create took the name or the slot
        raise Conflict(f"The pod name {name!r} is already in use; pick another name") from None
    return pod


async def create(caller: Caller, body: PodCreateIn) -> Pod:
    caller.access.require(Permission.MANAGE_PODS)
    _check_preset(caller.platform, body.preset)
    plan = plan_of(caller.platform, body.plan_slug)
    _check_region(caller.platform, body.region, body.server_id)
    pod = await _new_pod(caller, body.name, body.preset, plan, body.description,
                         body.customizations or Customizations())  # fmt: skip
    await record(caller, pod, "created", f"Pod {pod.name} created ({pod.preset}, {plan.slug})")
    await enqueue(caller.session, PROVISION, {"pod_id": pod.id}, subject=f"pod:{pod.id}")
    return pod


async def clone(caller: Caller, name: str, body: CloneIn) -> Pod:
    source = await find_for_change(caller, name)
    plan = plan_of(caller.platform, body.plan_slug or source.plan_slug)
    _check_region(caller.platform, body.region, None)
    custom = Customizations.model_validate(
        {
            "env_vars": runtime_view.env_of(caller.platform, source),
            "cron_jobs": source.cron_jobs or [],
            "workers": source.workers or [],
        }
    )
    pod = await _new_pod(caller, body.name, source.preset, plan, source.description, custom)
    await record(caller, pod, "created", f"Pod {pod.name} cloned from {source.name}")
    await enqueue(caller.session, PROVISION, {"pod_id": pod.id, "clone_of": source.id},
                  subject=f"pod:{pod.id}")  # fmt: skip
    return pod


async def delete(caller: Caller, name: str) -> None:
    pod = await find(caller, name)
    caller.access.require(Permission.MANAGE_PODS)
    if pod.status == "deleting":
        raise NotFound(POD_NOT_FOUND)
    pod.deleted_at = utcnow()
    pod.status = "deleting"
    await record(caller, pod, "deleted", f"Pod {pod.name} deleted")
    await enqueue(caller.session, DESTROY, {"pod_id": pod.id}, subject=f"pod:{pod.id}")
    if caller.platform.edge is not None:
        await caller.platform.edge.remove_pod(pod.name)


async def start(caller: Caller, name: str) -> Pod:
    pod = await find_for_change(caller, name)
    spec, _ = await runtime_view.plan(caller.platform, pod)
    state = await caller.platform.runtime.start(spec)
    pod.status, pod.status_message = "running", None
    await record(caller, pod, "started", f"Pod {pod.name} started ({state.status})")
    await publish(caller.platform, pod)
    return pod


async def stop(caller: Caller, name: str) -> Pod:
    pod = await find_for_change(caller, name)
    await caller.platform.runtime.stop(pod.id)
    pod.status, pod.status_message = "stopped", None
    await record(caller, pod, "stopped", f"Pod {pod.name} stopped")
    await publish(caller.platform, pod)
    return pod


async def restart(caller: Caller, name: str) -> Pod:
    """Restart every service (dependencies stay as installed)."""
    pod = await find_for_change(caller, name)
    spec, _ = await runtime_view.plan(caller.platform, pod)
    await caller.platform.runtime.start(spec)
    pod.status, pod.status_message = "running", None
    await record(caller, pod, "restarted", f"Pod {pod.name} restarted")
    await publish(caller.platform, pod)
    return pod


async def resize(caller: Caller, name: str, plan_slug: str) -> Pod:
    pod = await find_for_change(caller, name)
    plan = plan_of(caller.platform, plan_slug)
    if plan.slug == pod.plan_slug:
        return pod
    if plan.memory_mb > pod.memory_mb:
        await _check_capacity(caller, plan.memory_mb - pod.memory_mb)
    old = pod.plan_slug
    pod.plan_slug, pod.cpu, pod.memory_mb, pod.disk_gb = (
        plan.slug,
        plan.cpu,
        plan.memory_mb,
        plan.disk_gb,
    )
    # The full spec: where the disk cannot change online, the runtime stops the pod and starts
    # its services again from this spec (a bare one would leave the pod stopped).
    spec = runtime_view.bare_spec(caller.platform, pod)
    with contextlib.suppress(BadRequest):  # no app to run (yet): nothing to start again
        spec, _ = await runtime_view.plan(caller.platform, pod, spec)
    try:
        await caller.platform.runtime.resize(spec)
    except DiskTooSmall as exc:
        raise BadRequest(f"Cannot move to {plan.slug}: {exc}") from None
    await record(caller, pod, "resized", f"Pod {pod.name} resized from {old} to {plan.slug}")
    return pod


async def publish(platform: Platform, pod: Pod) -> None:
    """Tell the edge where the pod answers now (or that it does not)."""
    if platform.edge is None:
        return
    live = await runtime_view.live_state(platform, pod)
    status, _ = runtime_view.status_of(pod, live)
    await platform.edge.set_pod(pod.name, runtime_view.upstream(pod, live), status)
