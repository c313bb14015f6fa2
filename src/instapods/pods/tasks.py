"""Durable pod work: provisioning a new (or cloned) pod and cleaning up a deleted one."""

from __future__ import annotations

import asyncio
import logging
import weakref
from typing import Any

from sqlalchemy import update

from instapods.catalog.presets import BY_SLUG
from instapods.models import Pod
from instapods.platform import Platform
from instapods.pods import repository, runtime_view
from instapods.pods.presets import starter_files
from instapods.pods.service import DESTROY, PROVISION, publish
from instapods.worker.context import JobContext
from instapods.worker.registry import register

log = logging.getLogger("instapods.pods")


async def _load(ctx: JobContext, pod_id: str) -> Pod | None:
    async with ctx.transaction() as session:
        pod = await session.get(Pod, pod_id)
        if pod is not None:
            session.expunge(pod)
        return pod


async def _set_status(ctx: JobContext, pod: Pod, status: str, message: str | None,
                      event: str, text: str) -> None:  # fmt: skip
    async with ctx.transaction() as session:
        row = await session.get(Pod, pod.id)
        if row is None or row.deleted_at is not None:
            return
        row.status, row.status_message = status, message
        await repository.add_event(session, row, event, text, "system")
        pod.status, pod.status_message = status, message


async def mark_error(ctx: JobContext, payload: dict[str, Any], error: str) -> None:
    pod = await _load(ctx, payload["pod_id"])
    if pod is not None:
        await _set_status(ctx, pod, "error", error[:500], "error",
                          f"Provisioning failed: {error[:900]}")  # fmt: skip


_busy: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()


def _pod_lock(pod_id: str) -> asyncio.Lock:
    """One provisioning or clean-up of a pod at a time (a delete waits for its create)."""
    lock = _busy.get(pod_id)
    if lock is None:
        lock = _busy[pod_id] = asyncio.Lock()
    return lock


@register(PROVISION, on_failure=mark_error)
async def provision(ctx: JobContext, payload: dict[str, Any]) -> None:
    """Create the pod on the host, give it files (the starter app or the source's), start it.

    Idempotent: each step checks what exists, so a resumed job finishes what a crash cut off.
    """
    async with _pod_lock(payload["pod_id"]):
        await _provision(ctx, payload)


async def _provision(ctx: JobContext, payload: dict[str, Any]) -> None:
    platform = ctx.platform
    pod = await _load(ctx, payload["pod_id"])
    if pod is None or pod.deleted_at is not None:
        return
    spec = runtime_view.bare_spec(platform, pod)
    if platform.edge is not None:  # its 503 page now; one replace of the route once it runs
        await asyncio.gather(
            platform.edge.set_pod(pod.name, None, "creating"), platform.runtime.create(spec)
        )
    else:
        await platform.runtime.create(spec)
    await ctx.heartbeat()
    if payload.get("clone_of"):
        await platform.runtime.copy_files(payload["clone_of"], pod.id)
        found = await runtime_view.facts(platform, spec)
    else:  # the starter app goes in only while the folder is empty (a resumed job keeps files)
        found = await runtime_view.facts(
            platform, spec, starter_files(BY_SLUG[pod.preset], pod.name)
        )
    full, _ = await runtime_view.plan(platform, pod, spec, found)
    state = await platform.runtime.start(full)
    await _set_status(ctx, pod, "running", None, "started",
                      f"Pod {pod.name} started ({state.status})")  # fmt: skip
    current = await _load(ctx, pod.id)
    if current is not None and current.deleted_at is None:  # deleted meanwhile: no route
        await publish(platform, pod)


@register(DESTROY)
async def destroy(ctx: JobContext, payload: dict[str, Any]) -> None:
    """Remove everything of a deleted pod from the host, then free its slot."""
    async with _pod_lock(payload["pod_id"]):
        await ctx.platform.runtime.destroy(payload["pod_id"])
    pod = await _load(ctx, payload["pod_id"])
    if pod is not None and ctx.platform.edge is not None:  # in case a create re-published it
        await ctx.platform.edge.remove_pod(pod.name)
    async with ctx.transaction() as session:
        await session.execute(update(Pod).where(Pod.id == payload["pod_id"]).values(slot=None))


async def routes(platform: Platform) -> list[tuple[str, str | None, str]]:
    """(name, upstream, status) of every pod on this server, for the edge at its start."""
    async with platform.sessions() as session:
        pods = await repository.pods_on_server(session, platform.server.id)
    found = []
    for pod in pods:
        live = await runtime_view.live_state(platform, pod)
        status, _ = runtime_view.status_of(pod, live)
        found.append((pod.name, runtime_view.upstream(pod, live), status))
    return found


async def adopt(platform: Platform) -> None:
    """At start: take back this server's pods from the runtime; remove what no pod owns."""
    async with platform.sessions() as session:
        pods = await repository.pods_on_server(session, platform.server.id)
    specs = [runtime_view.bare_spec(platform, pod) for pod in pods if pod.slot is not None]
    destroyed = await platform.runtime.adopt(specs)
    if destroyed:
        log.info("removed %d pods the database no longer knows: %s", len(destroyed), destroyed)
    for pod in pods:
        await publish(platform, pod)
