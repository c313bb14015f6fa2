from __future__ import annotations

from instapods.kit.schema import Schema


class PlanOut(Schema):
    slug: str
    name: str
    cpu: float
    memory_mb: int
    disk_gb: int
    price_cents: int
    currency: str
    services_allowed: bool


class PlansOut(Schema):
    plans: list[PlanOut]


class PresetOut(Schema):
    slug: str
    name: str
    runtime: str | None
    version: str | None
    app_port: int
    web_server: str | None
    dependency_file: str | None
    detect_files: list[str]
    available: bool
    missing: list[str]


class PresetsOut(Schema):
    presets: list[PresetOut]


class ServerOut(Schema):
    id: str
    name: str
    status: str
    pods: int
    capacity: int


class RegionOut(Schema):
    slug: str
    name: str
    available: bool
    servers: list[ServerOut]


class RegionsOut(Schema):
    regions: list[RegionOut]


class RuntimeOut(Schema):
    name: str
    versions: list[str]
    default: str | None


class RuntimesOut(Schema):
    runtimes: list[RuntimeOut]
