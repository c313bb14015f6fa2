from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from instapods.kit.clock import utcnow
from instapods.models.base import Base, IdMixin


class PodEvent(IdMixin, Base):
    """Something that happened to a pod, and who did it (a user's email, or "system")."""

    __tablename__ = "pod_events"
    __table_args__ = (Index("ix_pod_events_pod_created", "pod_id", "created_at"),)

    pod_id: Mapped[str] = mapped_column(ForeignKey("pods.id", ondelete="CASCADE"))
    team_id: Mapped[str] = mapped_column(String(32))
    type: Mapped[str] = mapped_column(String(32))
    message: Mapped[str] = mapped_column(String(1000))
    actor: Mapped[str] = mapped_column(String(254))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
