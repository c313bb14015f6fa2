"""The link between pod rows and the runtime: specs for the driver, live status for the API."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping

from instapods.errors import BadRequest, ServiceUnavailable
from instapods.models import Pod
from instapods.platform import Platform
from instapods.pods import podside
from instapods.pods.presets import Facts, Plan, plan_services
from instapods.runtime.base import PodSpec, PodState, PodStatus, Resources
from instapods.runtime.errors import RuntimeDriverError

log = logging.getLogger("instapods.pods")

# Statuses the control plane owns; any other comes from the runtime's live state.
OWN_STATUSES = frozenset({"creating", "deleting", "error", "suspended"})
LIVE = {
    PodStatus.RUNNING: "running",
    PodStatus.STARTING: "starting",
    PodStatus.DEGRADED: "restarting",
    PodStatus.STOPPED: "stopped",
    PodStatus.ABSENT: "error",
    PodStatus.ERROR: "error",
}


def env_of(platform: Platform, pod: Pod) -> dict[str, str]:
    if not pod.env_sealed:
        return {}
    data = json.loads(platform.secrets.open(pod.env_sealed, pod.id))
    return {str(k): str(v) for k, v in data.items()}


def seal_env(platform: Platform, pod: Pod, env: Mapping[str, str]) -> None:
    pod.env_sealed = platform.secrets.seal(json.dumps(dict(env)), pod.id) if env else None


def bare_spec(platform: Platform, pod: Pod) -> PodSpec:
    """The pod without services: enough to create it, exec in it, resize or stop it."""
    if pod.slot is None:
        raise ServiceUnavailable("This pod has no place on the host")
    return PodSpec(
        id=pod.id,
        name=pod.name,
        resources=Resources(cpu=pod.cpu, memory_mb=pod.memory_mb, disk_gb=pod.disk_gb),
        slot=pod.slot,
        env=env_of(platform, pod),
    )


async def facts(
    platform: Platform, spec: PodSpec, seed: Mapping[str, bytes] | None = None
) -> Facts:
    """What the app folder holds (after writing `seed` into it, if it is empty)."""
    if seed is None:
        result = await platform.runtime.exec(spec, podside.probe(), timeout=30)
    else:
        argv, data = podside.seed_and_probe(seed)
        result = await platform.runtime.exec(spec, argv, timeout=30, stdin=data)
    if result.exit_code != 0:
        raise BadRequest(f"Could not read the app folder: {result.stderr.strip()[-500:]}")
    return Facts.from_probe(json.loads(result.stdout))


async def plan(
    platform: Platform, pod: Pod, spec: PodSpec | None = None, found: Facts | None = None
) -> tuple[PodSpec, Plan]:
    """The full spec (with services detected from the app's files) and what was detected."""
    spec = spec or bare_spec(platform, pod)
    found = found or await facts(platform, spec)
    detected = plan_services(pod.preset, found, platform.runtimes, spec.env, pod.workers or [])
    full = PodSpec(id=spec.id, name=spec.name, resources=spec.resources, slot=spec.slot,
                   services=detected.services, env=spec.env)  # fmt: skip
    return full, detected


async def live_state(platform: Platform, pod: Pod) -> PodState | None:
    try:
        return await platform.runtime.state(pod.id)
    except RuntimeDriverError:
        log.warning("runtime state of %s unavailable", pod.name, exc_info=True)
        return None


def status_of(pod: Pod, state: PodState | None) -> tuple[str, str | None]:
    """The status and message the API shows: ours while we own it, else the runtime's."""
    if pod.status in OWN_STATUSES or state is None:
        return pod.status, pod.status_message
    status = LIVE[state.status]
    if pod.status in ("starting", "stopping") and status != "running":
        return pod.status, pod.status_message
    return status, state.message or (pod.status_message if status == pod.status else None)


def upstream(pod: Pod, state: PodState | None) -> str | None:
    if state is None or state.address is None or state.status is not PodStatus.RUNNING:
        return None
    return f"{state.address}:{pod.app_port}"
