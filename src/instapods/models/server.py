from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from instapods.kit.clock import utcnow
from instapods.models.base import Base, IdMixin


class Server(IdMixin, Base):
    """A machine that runs pods. A single-host installation registers itself at start."""

    __tablename__ = "servers"

    name: Mapped[str] = mapped_column(String(64), unique=True)
    region: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="online")
    capacity: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
