"""The running platform's shared parts, built once at start-up from the settings."""

from __future__ import annotations

import asyncio
import logging
import socket
from dataclasses import dataclass, field
from typing import Annotated, Any, Protocol

from fastapi import Depends, Request
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from instapods import db
from instapods.catalog.runtimes import Runtime, detect
from instapods.config import Settings
from instapods.kit.clock import utcnow
from instapods.kit.ids import new_id
from instapods.kit.mail import Mail, Mailer, OutboxMailer, SmtpMailer
from instapods.kit.postman import Postman
from instapods.kit.ratelimit import RateLimiter
from instapods.kit.secretbox import SecretBox
from instapods.models import Server
from instapods.runtime import registry
from instapods.runtime.base import Driver

log = logging.getLogger("instapods")


class PodRouter(Protocol):
    """Where the edge sends a pod's traffic (implemented by the edge)."""

    async def set_pod(self, name: str, upstream: str | None, state: str) -> None: ...

    async def remove_pod(self, name: str) -> None: ...


@dataclass
class Platform:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    postman: Postman
    limiter: RateLimiter
    runtimes: dict[str, Runtime]
    server: Server
    runtime: Driver
    secrets: SecretBox
    host_memory_mb: int
    edge: PodRouter | None = None  # set by `instapods server` once the edge runs
    cron: Any = None  # the pods' cron scheduler (instapods.pods.cron.Cron)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @property
    def public_url(self) -> str:
        return self.settings.resolved_public_url


def mail_after_commit(session: AsyncSession, platform: Platform, mail: Mail) -> None:
    """Send `mail` (in the background) only once the session's transaction has committed."""

    async def post() -> None:
        platform.postman.post(mail)

    db.after_commit(session, post)


def build_mailer(settings: Settings) -> Mailer:
    if settings.smtp_host:
        return SmtpMailer(
            host=settings.smtp_host,
            port=settings.smtp_port,
            sender=settings.smtp_from,
            username=settings.smtp_username,
            password=settings.smtp_password,
            starttls=settings.smtp_starttls,
            use_tls=settings.smtp_tls,
            timeout=settings.smtp_timeout_seconds,
        )
    return OutboxMailer(settings.outbox_dir, settings.smtp_from)


async def register_server(sessions: async_sessionmaker[AsyncSession], settings: Settings) -> Server:
    """Find or create this machine's row, so pods and regions can refer to a stable id."""
    name = settings.server_name or socket.gethostname().split(".")[0][:64] or "local"
    async with sessions() as session, session.begin():
        server = await session.scalar(select(Server).where(Server.name == name))
        if server is None:
            server = Server(id=new_id("srv"), name=name, region=settings.region)
            session.add(server)
        server.region = settings.region
        server.capacity = settings.max_pods
        server.status = "online"
        server.last_seen_at = utcnow()
    return server


def host_memory_mb() -> int:
    with open("/proc/meminfo") as handle:
        for line in handle:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
    return 0


def _secrets(settings: Settings) -> SecretBox:
    if settings.secret_key:
        return SecretBox.from_key(settings.secret_key)
    return SecretBox.from_file(settings.data_dir / "keys" / "secret.key")


async def start_platform(settings: Settings, *, keeper: bool = True) -> Platform:
    """Build the platform. The `keeper` (the process of `instapods server`) also takes back
    the pods that run on this host and watches them (crashes, cron); a process that only runs
    jobs (`instapods worker`) does not, so no pod has two supervisors."""
    from instapods.pods import monitor, tasks
    from instapods.pods.cron import Cron

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = db.create_engine(settings.resolved_database_url)
    await db.upgrade(engine)
    sessions = db.session_factory(engine)
    runtime = registry.create(settings)
    await runtime.open()
    platform = Platform(
        settings=settings,
        engine=engine,
        sessions=sessions,
        postman=Postman(build_mailer(settings)),
        limiter=RateLimiter(settings.rate_limits, settings.redis_url, settings.redis_prefix),
        runtimes=await detect(),
        server=await register_server(sessions, settings),
        runtime=runtime,
        secrets=_secrets(settings),
        host_memory_mb=settings.host_memory_mb or host_memory_mb(),
    )
    if keeper:
        await tasks.adopt(platform)
        platform.cron = Cron(platform)
        platform.tasks.append(asyncio.create_task(monitor.watch(platform)))
        platform.tasks.append(asyncio.create_task(platform.cron.forever()))
    return platform


async def stop_platform(platform: Platform) -> None:
    for task in platform.tasks:
        task.cancel()
    await asyncio.gather(*platform.tasks, return_exceptions=True)
    await platform.runtime.close()
    await platform.postman.drain()
    await platform.engine.dispose()


def get_platform(request: Request) -> Platform:
    platform: Platform = request.app.state.platform
    return platform


PlatformDep = Annotated[Platform, Depends(get_platform)]
