"""The ingest ledger: one row per file version (or bucket object) the ingester has seen, so each is taken once.

A folder file is identified by (path, size, mtime); a bucket object by (bucket/key, size, ETag). The row is
claimed before the bytes are hashed or submitted, so a second sighting — the same event delivered twice, a
rescan after a restart, two threads racing — finds it and does nothing.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from webapp.extensions import db
from webapp.models.user import utcnow

# claimed: being submitted now; submitted: has a transcript; delivered: results were written back;
# unsupported: not a type we transcribe (reported once); rejected: refused for good (empty, too large);
# error: a transient failure, retried on the next rescan or re-delivery.
LEDGER_STATUSES = ("claimed", "submitted", "delivered", "unsupported", "rejected", "error")


class IngestRecord(db.Model):
    __tablename__ = "ingest_ledger"
    __table_args__ = (
        UniqueConstraint("source", "location", "size", "version", name="uq_ingest_ledger_file_version"),
        Index("ix_ingest_ledger_status", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(16))  # "folder" | "bucket"
    location: Mapped[str] = mapped_column(Text)  # absolute path, or "<bucket>/<key>"
    size: Mapped[int] = mapped_column(BigInteger)
    version: Mapped[str] = mapped_column(String(128))  # mtime in ns for files, the ETag for objects
    sha256: Mapped[str | None] = mapped_column(String(64))
    transcript_id: Mapped[int | None] = mapped_column(
        ForeignKey("transcripts.id", ondelete="SET NULL"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="claimed")
    error: Mapped[str | None] = mapped_column(Text)
    delivered_to: Mapped[str | None] = mapped_column(Text)  # where results (or the moved source) went
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)
