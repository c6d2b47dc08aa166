from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import UtcDateTime, db, utcnow

PROJECT_STATUSES = ("on_sale", "paused", "sold_out", "ended")


class Developer(db.Model):
    __tablename__ = "developers"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    contact_name: Mapped[str | None] = mapped_column(String(50))
    contact_phone: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    projects: Mapped[list["Project"]] = relationship(back_populates="developer", order_by="Project.id")


class Project(db.Model):
    """A new-home project (楼盘) sold through a developer's sales office (案场)."""
    __tablename__ = "projects"
    __table_args__ = (
        CheckConstraint("status IN ('on_sale', 'paused', 'sold_out', 'ended')", name="status_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    developer_id: Mapped[int] = mapped_column(ForeignKey("developers.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    city: Mapped[str] = mapped_column(String(50))
    district: Mapped[str | None] = mapped_column(String(50))
    address: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20), default="on_sale")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    developer: Mapped[Developer] = relationship(back_populates="projects")
