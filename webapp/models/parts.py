"""A long recording's plan: the parts it was split into, each one its own RQ job (issue 11)."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from webapp.extensions import db
from webapp.models.transcript import JSONType
from webapp.models.user import utcnow

PART_STATUSES = ("queued", "running", "done", "failed", "cancelled")


class TranscriptPart(db.Model):
    """One span [start, end) of a transcript's recording. ``result`` holds the part's segments (times already on
    the recording's clock) and its speakers' voiceprints until the merge writes the transcript's rows."""
    __tablename__ = "transcript_parts"
    __table_args__ = (UniqueConstraint("transcript_id", "idx", name="uq_transcript_part_idx"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    transcript_id: Mapped[int] = mapped_column(ForeignKey("transcripts.id", ondelete="CASCADE"), index=True)
    idx: Mapped[int] = mapped_column(Integer)
    start: Mapped[float] = mapped_column(Float)
    end: Mapped[float] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(16), default="queued", index=True)
    progress: Mapped[int] = mapped_column(Integer, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    rq_job_id: Mapped[str | None] = mapped_column(String(64))
    worker: Mapped[str | None] = mapped_column(String(255))
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)

    @property
    def length(self) -> float:
        return max(0.0, self.end - self.start)
