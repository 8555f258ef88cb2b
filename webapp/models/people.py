"""People and their voiceprints (biometric data: per account, deleted completely, never exported)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import REAL, DateTime, ForeignKey, String
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.extensions import db
from webapp.models.user import utcnow

Vector = ARRAY(REAL)


class Person(db.Model):
    __tablename__ = "people"

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    voiceprints: Mapped[list["Voiceprint"]] = relationship(
        back_populates="person", cascade="all, delete-orphan", passive_deletes=True, order_by="Voiceprint.id")


class Voiceprint(db.Model):
    __tablename__ = "voiceprints"

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    embedding: Mapped[list[float]] = mapped_column(Vector)
    # where it came from (kept as text too, so the source survives the transcript's deletion)
    transcript_id: Mapped[int | None] = mapped_column(ForeignKey("transcripts.id", ondelete="SET NULL"))
    speaker_label: Mapped[str | None] = mapped_column(String(32))
    source_title: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    person: Mapped[Person] = relationship(back_populates="voiceprints")


__all__ = ["Person", "Voiceprint"]
