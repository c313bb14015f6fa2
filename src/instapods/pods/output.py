"""Pod rows as the API shows them."""

from __future__ import annotations

from urllib.parse import urlsplit

from instapods.models import Pod
from instapods.platform import Platform
from instapods.pods import runtime_view
from instapods.pods.schemas import CustomizationsOut, PodOut, ResourcesOut, SshOut
from instapods.runtime.base import PodState


def pod_host(platform: Platform, name: str) -> str:
    """`<pod>.<base domain>` (with the server's name in between on a real domain)."""
    base = platform.settings.base_domain
    if base == "localhost" or platform.settings.single_server_domains:
        return f"{name}.{base}"
    return f"{name}.{platform.server.name}.{base}"


def pod_url(platform: Platform, name: str) -> str:
    public = urlsplit(platform.public_url)
    port = f":{public.port}" if public.port else ""
    return f"{public.scheme}://{pod_host(platform, name)}{port}"


def pod_out(platform: Platform, pod: Pod, state: PodState | None) -> PodOut:
    status, message = runtime_view.status_of(pod, state)
    public_host = urlsplit(platform.public_url).hostname or "localhost"
    return PodOut(
        id=pod.id,
        name=pod.name,
        preset=pod.preset,
        status=status,
        status_message=message,
        plan_slug=pod.plan_slug,
        resources=ResourcesOut(cpu=pod.cpu, memory_mb=pod.memory_mb, disk_gb=pod.disk_gb),
        region=pod.region,
        server_id=pod.server_id,
        description=pod.description,
        domain=pod_url(platform, pod.name),
        app_port=pod.app_port,
        ssh=SshOut(host=public_host, port=platform.settings.ssh_port, username=pod.name),
        customizations=CustomizationsOut.model_validate(
            {
                "env_vars": runtime_view.env_of(platform, pod),
                "cron_jobs": pod.cron_jobs or [],
                "workers": pod.workers or [],
            }
        ),
        team_id=pod.team_id,
        created_at=pod.created_at,
        updated_at=pod.updated_at,
    )
