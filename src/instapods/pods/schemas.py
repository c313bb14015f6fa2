from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field, StringConstraints, field_validator

from instapods.kit.cron import CronError, Schedule
from instapods.kit.schema import Schema, Timestamp
from instapods.pods import names

ENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
MAX_ENV_VARS = 200
MAX_ENV_VALUE = 32 * 1024


def _pod_name(value: str) -> str:
    problem = names.check(value)
    if problem:
        raise ValueError(f"the pod name {problem}")
    return value


PodName = Annotated[str, StringConstraints(max_length=63), AfterValidator(_pod_name)]
Slug = Annotated[str, StringConstraints(min_length=1, max_length=32)]
Command = Annotated[str, StringConstraints(min_length=1, max_length=4096)]
Description = Annotated[str, StringConstraints(max_length=500)]


def _check_env(value: dict[str, str]) -> dict[str, str]:
    if len(value) > MAX_ENV_VARS:
        raise ValueError(f"at most {MAX_ENV_VARS} variables")
    for key, item in value.items():
        if not ENV_KEY.match(key):
            raise ValueError(f"{key!r} is not a valid variable name (letters, digits, _)")
        if len(item) > MAX_ENV_VALUE or "\0" in item:
            raise ValueError(f"the value of {key} is too long or holds a NUL byte")
    return value


EnvVars = Annotated[dict[str, str], AfterValidator(_check_env)]


class CronJob(Schema):
    schedule: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    command: Command

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, value: str) -> str:
        try:
            Schedule.parse(value)
        except CronError as exc:
            raise ValueError(f"invalid schedule: {exc}") from None
        return value


class Worker(Schema):
    name: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]{0,31}$")]
    command: Command


class Customizations(Schema):
    env_vars: EnvVars = Field(default_factory=dict)
    cron_jobs: list[CronJob] = Field(default_factory=list, max_length=50)
    workers: list[Worker] = Field(default_factory=list, max_length=10)

    @field_validator("workers")
    @classmethod
    def _unique_workers(cls, value: list[Worker]) -> list[Worker]:
        if len({w.name for w in value}) != len(value):
            raise ValueError("worker names must be unique")
        return value


class PodCreateIn(Schema):
    name: PodName
    preset: Slug
    plan_slug: Slug = "launch"
    region: Slug | None = None
    server_id: Annotated[str, StringConstraints(max_length=32)] | None = None
    ssh_key: Annotated[str, StringConstraints(max_length=16384)] | None = None
    description: Description | None = None
    customizations: Customizations | None = None


class CloneIn(Schema):
    name: PodName
    plan_slug: Slug | None = None
    region: Slug | None = None


class ResizeIn(Schema):
    plan_slug: Slug


class ExecIn(Schema):
    command: Command
    timeout_seconds: float = Field(default=60, gt=0, le=3600)


class EnvIn(Schema):
    env_vars: EnvVars


class ResourcesOut(Schema):
    cpu: float
    memory_mb: int
    disk_gb: int


class SshOut(Schema):
    host: str
    port: int
    username: str


class CustomizationsOut(Schema):
    env_vars: dict[str, str]
    cron_jobs: list[CronJob]
    workers: list[Worker]


class PodOut(Schema):
    id: str
    name: str
    preset: str
    status: str
    status_message: str | None
    plan_slug: str
    resources: ResourcesOut
    region: str
    server_id: str
    description: str | None
    domain: str
    app_port: int
    ssh: SshOut
    customizations: CustomizationsOut
    team_id: str
    created_at: Timestamp
    updated_at: Timestamp


class PodsOut(Schema):
    pods: list[PodOut]
    total: int
    limit: int
    offset: int
    status_counts: dict[str, int]


class DependenciesOut(Schema):
    tool: str | None
    installed: bool
    output_tail: str


class ReloadOut(Schema):
    status: str
    services: list[str]
    dependencies: DependenciesOut


class PresetInfoOut(Schema):
    slug: str
    name: str
    runtime: str | None
    version: str | None
    app_port: int
    web_server: str | None
    dependency_file: str | None
    dependency_tool: str | None
    start_command: str | None
    webroot: str | None


class DiskPathOut(Schema):
    path: str
    bytes: int


class DiskUsageOut(Schema):
    used_bytes: int
    limit_bytes: int
    percent: float
    paths: list[DiskPathOut]


class ExecOut(Schema):
    exit_code: int
    stdout: str
    stderr: str
    duration_ms: int
    timed_out: bool


class EnvOut(Schema):
    env_vars: dict[str, str]


class EventOut(Schema):
    id: str
    type: str
    message: str
    actor: str
    created_at: Timestamp


class EventsOut(Schema):
    events: list[EventOut]
    total: int
    limit: int
    offset: int


class LogLineOut(Schema):
    timestamp: Timestamp
    service: str
    stream: str
    message: str


class LogsOut(Schema):
    pod: str
    lines: list[LogLineOut]
