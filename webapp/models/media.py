"""Stored media: one row per distinct content (SHA-256), whatever its name or how it arrived."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Float, String
from sqlalchemy.orm import Mapped, mapped_column

from webapp.extensions import db
from webapp.models.user import utcnow

SOURCES = ("upload", "folder", "bucket")


class Media(db.Model):
    __tablename__ = "media"

    id: Mapped[int] = mapped_column(primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    size: Mapped[int] = mapped_column(BigInteger)
    original_name: Mapped[str] = mapped_column(String(255))
    mime: Mapped[str | None] = mapped_column(String(127))
    duration: Mapped[float | None] = mapped_column(Float)
    storage_key: Mapped[str] = mapped_column(String(255))
    source: Mapped[str] = mapped_column(String(16), default="upload")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
