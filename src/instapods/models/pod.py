from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from instapods.models.base import Base, IdMixin, TimestampMixin


class Pod(IdMixin, TimestampMixin, Base):
    """A pod. Deleted pods stay as rows (deleted_at set) so their name stays reserved."""

    __tablename__ = "pods"

    # None only for deleted pods whose team is gone too (kept so their name stays reserved).
    team_id: Mapped[str | None] = mapped_column(
        ForeignKey("teams.id", ondelete="RESTRICT"), index=True
    )
    name: Mapped[str] = mapped_column(String(63), unique=True)
    preset: Mapped[str] = mapped_column(String(16))
    plan_slug: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    status_message: Mapped[str | None] = mapped_column(String(500))
    region: Mapped[str] = mapped_column(String(32))
    server_id: Mapped[str] = mapped_column(String(32))
    description: Mapped[str | None] = mapped_column(String(500))
    slot: Mapped[int | None] = mapped_column(unique=True)
    cpu: Mapped[float]
    memory_mb: Mapped[int]
    disk_gb: Mapped[int]
    app_port: Mapped[int]
    env_sealed: Mapped[str | None] = mapped_column(Text)  # env vars, encrypted (kit.secretbox)
    cron_jobs: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    workers: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    created_by: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    deleted_at: Mapped[datetime | None] = mapped_column(index=True)
