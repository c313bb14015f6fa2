from __future__ import annotations

from fastapi import APIRouter

from instapods.catalog import service
from instapods.catalog.schemas import PlanOut, PlansOut, PresetsOut, RegionsOut, RuntimesOut
from instapods.db import SessionDep
from instapods.platform import PlatformDep

router = APIRouter(prefix="/api", tags=["catalog"])


@router.get("/plans")
async def plans(platform: PlatformDep) -> PlansOut:
    """The plans pods can be created on (configurable with `INSTAPODS_PLANS`)."""
    return PlansOut(plans=[PlanOut.model_validate(p.model_dump()) for p in platform.settings.plans])


@router.get("/presets")
async def presets(platform: PlatformDep) -> PresetsOut:
    """The app presets, with the runtime version this host provides and whether it can run them."""
    return PresetsOut(presets=service.presets(platform.runtimes))


@router.get("/regions")
async def regions(session: SessionDep, platform: PlatformDep) -> RegionsOut:
    return RegionsOut(regions=await service.regions(session, platform.settings))


@router.get("/runtimes")
async def runtimes(platform: PlatformDep) -> RuntimesOut:
    """The runtimes found on this host, with every version found; the newest is the default."""
    return RuntimesOut(runtimes=service.runtimes(platform.runtimes))
