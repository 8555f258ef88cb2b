"""Stored media: one row per distinct content (SHA-256), whatever its name or how it arrived.

Bytes are kept only for content that probed as audio or video: ``storage_key`` is None for an upload that is
not media (its failed transcript says why) and ``mime`` is the type the probe gave, never one guessed from a name.
The name and the way an upload arrived belong to each transcript (``Transcript.original_name``/``source``): the
same bytes from two people are one media row, and neither sees the other's filename. The columns here keep the
first arrival's, for the operator.
"""
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
    storage_key: Mapped[str | None] = mapped_column(String(255))  # None: not media, no bytes kept
    source: Mapped[str] = mapped_column(String(16), default="upload")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    @property
    def playable(self) -> bool:
        """Bytes are kept and the probe said they are audio or video."""
        return bool(self.storage_key) and (self.mime or "").startswith(("audio/", "video/"))

    @property
    def is_video(self) -> bool:
        return (self.mime or "").startswith("video/")
