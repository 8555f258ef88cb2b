"""The ledger's operations: claim a file version before taking it, record how it ended, find what to deliver.

Every function runs inside an app context and commits its own short transaction, so the pool threads, the
webhook and the Redis consumer can share them.
"""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import and_, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import selectinload

from webapp import metrics
from webapp.extensions import db
from webapp.models import IngestRecord, Segment, Transcript, User
from webapp.models.user import utcnow

# A claim older than this belongs to an ingester that died while submitting; another may take it over.
STALE_CLAIM = timedelta(minutes=15)


def owner_exists() -> bool:
    """Files from the folder or a bucket belong to the first admin; until one exists, wait rather than refuse."""
    return db.session.scalar(select(User.id).where(User.is_admin.is_(True)).limit(1)) is not None


def claim(source: str, location: str, size: int, version: str) -> int | None:
    """Take this file version for submission. Returns the row id, or None when it is (being) handled already.

    One statement, so two callers racing on the same version cannot both win. Rows that ended in a transient
    error, or whose claimer died, are taken over.
    """
    now = utcnow()
    stmt = insert(IngestRecord).values(
        source=source, location=location, size=size, version=version, status="claimed",
        created_at=now, updated_at=now,
    )
    table = IngestRecord.__table__
    stmt = stmt.on_conflict_do_update(
        constraint="uq_ingest_ledger_file_version",
        set_={"status": "claimed", "error": None, "updated_at": now},
        where=or_(table.c.status == "error",
                  and_(table.c.status == "claimed", table.c.updated_at < now - STALE_CLAIM)),
    ).returning(table.c.id)
    row_id = db.session.execute(stmt).scalar()
    db.session.commit()
    return row_id


def note_unsupported(source: str, location: str, size: int, version: str, reason: str,
                     status: str = "unsupported") -> bool:
    """Record a file we will not take ("unsupported" type, or "rejected" for good: a link, too large).
    True the first time (so the caller reports it once)."""
    now = utcnow()
    stmt = insert(IngestRecord).values(
        source=source, location=location, size=size, version=version, status=status, error=reason,
        created_at=now, updated_at=now,
    ).on_conflict_do_nothing(constraint="uq_ingest_ledger_file_version").returning(IngestRecord.id)
    new = db.session.execute(stmt).scalar() is not None
    db.session.commit()
    if new:
        metrics.INGEST_FILES.labels(source=source, outcome=status).inc()
    return new


def finish(row_id: int, status: str, *, transcript_id: int | None = None, sha256: str | None = None,
           error: str | None = None) -> None:
    """Record how a claimed row ended."""
    values = {"status": status, "error": error, "updated_at": utcnow()}
    if transcript_id is not None:
        values["transcript_id"] = transcript_id
    if sha256 is not None:
        values["sha256"] = sha256
    source = db.session.execute(update(IngestRecord).where(IngestRecord.id == row_id).values(**values)
                                .returning(IngestRecord.source)).scalar()
    db.session.commit()
    if source is not None:
        metrics.INGEST_FILES.labels(source=source, outcome=status).inc()


def release(row_id: int) -> None:
    """Forget a claim (the file changed under us; it will be seen again once it settles)."""
    db.session.execute(IngestRecord.__table__.delete().where(IngestRecord.id == row_id))
    db.session.commit()


def awaiting_delivery(limit: int = 100) -> list[tuple[IngestRecord, Transcript]]:
    """Folder files whose transcript has finished (done or failed) and whose results are not written back."""
    rows = db.session.execute(
        select(IngestRecord, Transcript)
        .join(Transcript, Transcript.id == IngestRecord.transcript_id)
        .where(IngestRecord.source == "folder", IngestRecord.status == "submitted",
               Transcript.status.in_(("done", "failed")))
        .order_by(IngestRecord.id).limit(limit)
    ).all()
    return [(r, t) for r, t in rows]


def with_results(transcript_id: int) -> Transcript:
    """One transcript with its segments, their words and its speakers loaded in four queries in all (not one
    query per segment), one transcript at a time so a batch of long recordings never sits in memory at once."""
    return db.session.execute(
        select(Transcript).where(Transcript.id == transcript_id)
        .options(selectinload(Transcript.segments).selectinload(Segment.words), selectinload(Transcript.speakers))
        .execution_options(populate_existing=True)
    ).scalar_one()
