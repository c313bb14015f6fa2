"""The catalog: plans from configuration, presets and runtimes from what this host has."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from instapods.catalog.presets import PRESETS, Preset
from instapods.catalog.runtimes import Runtime
from instapods.catalog.schemas import PresetOut, RegionOut, RuntimeOut, ServerOut
from instapods.config import Settings
from instapods.models import Server


def missing_runtimes(preset: Preset, runtimes: dict[str, Runtime]) -> list[str]:
    return [name for name in preset.requires if not runtimes.get(name, Runtime(name)).versions]


def presets(runtimes: dict[str, Runtime]) -> list[PresetOut]:
    out = []
    for preset in PRESETS:
        runtime = runtimes.get(preset.runtime or preset.web_server or "")
        missing = missing_runtimes(preset, runtimes)
        out.append(
            PresetOut(
                slug=preset.slug,
                name=preset.name,
                runtime=preset.runtime,
                version=runtime.default if runtime else None,
                app_port=preset.app_port,
                web_server=preset.web_server,
                dependency_file=preset.dependency_file,
                detect_files=list(preset.detect_files),
                available=not missing,
                missing=missing,
            )
        )
    return out


def runtimes(found: dict[str, Runtime]) -> list[RuntimeOut]:
    return [
        RuntimeOut(name=r.name, versions=r.versions, default=r.default)
        for r in found.values()
        if r.versions
    ]


async def regions(session: AsyncSession, settings: Settings) -> list[RegionOut]:
    servers = list(await session.scalars(select(Server).order_by(Server.name)))
    by_region: dict[str, list[ServerOut]] = {}
    for server in servers:
        by_region.setdefault(server.region, []).append(
            ServerOut(
                id=server.id,
                name=server.name,
                status=server.status,
                pods=0,
                capacity=server.capacity,
            )
        )
    names = {settings.region: settings.region_name}
    return [
        RegionOut(
            slug=slug,
            name=names.get(slug, slug),
            available=any(s.status == "online" and s.pods < s.capacity for s in members),
            servers=members,
        )
        for slug, members in sorted(by_region.items())
    ]
