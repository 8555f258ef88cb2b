"""Reading transcripts: who may see what, and the JSON shape the API and exports share."""
from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import selectinload

from webapp.errors import Conflict, NotFound
from webapp.extensions import db
from webapp.models import Segment, Transcript, User
from webapp.services import parts


MAX_OFFSET = 2**31


def visible(user: User) -> Select:
    """Transcripts ``user`` may see: their own, or all for an admin."""
    stmt = select(Transcript)
    return stmt if user.is_admin else stmt.where(Transcript.owner_id == user.id)


def get_for(user: User, transcript_id: int, *, with_segments: bool = False) -> Transcript | None:
    stmt = visible(user).where(Transcript.id == transcript_id)
    if with_segments:
        stmt = stmt.options(selectinload(Transcript.segments).selectinload(Segment.words),
                            selectinload(Transcript.speakers))
    return db.session.scalar(stmt)


def owned(user: User, transcript_id: int, *, with_segments: bool = False) -> Transcript:
    """This user's transcript (any, for an admin), or NotFound: someone else's is not told apart from none.

    Without ``with_segments`` nothing of the text is loaded (a rename or a status poll does not need it).
    """
    t = get_for(user, transcript_id, with_segments=with_segments)
    if t is None:
        raise NotFound()
    return t


def require_done(t: Transcript, what: str = "downloads are ready") -> None:
    """Conflict unless the transcript is done (``what`` says what waits for it)."""
    if t.status != "done":
        raise Conflict(f"the transcript is {t.status}; {what} when it is done")


def list_for(user: User, *, status: str | None = None, limit: int = 50, offset: int = 0) -> list[Transcript]:
    # each row carries its own filename and source, so the list needs no media rows
    stmt = visible(user).order_by(
        Transcript.created_at.desc(), Transcript.id.desc())
    if status:
        stmt = stmt.where(Transcript.status == status)
    offset = min(offset, MAX_OFFSET)  # past every row anyway; a larger number would not fit PostgreSQL's bigint
    return list(db.session.scalars(stmt.limit(limit).offset(offset)))


def summary(t: Transcript) -> dict[str, Any]:
    return {
        "id": t.id, "title": t.title, "status": t.status, "stage": t.stage, "progress": t.progress,
        "error": t.error, "language": t.language, "duration": t.duration, "model": t.model,
        "source": t.source, "filename": t.original_name, "attempts": t.attempts,
        "created_at": t.created_at.isoformat() if t.created_at else None,
        "finished_at": t.finished_at.isoformat() if t.finished_at else None,
    }


def segments_data(t: Transcript) -> list[dict[str, Any]]:
    """Segments as plain data, speaker labels replaced by the names people gave them."""
    names = t.speaker_names()
    out = []
    for seg in t.segments:
        data = seg.as_dict()
        data["speaker"] = names.get(seg.speaker, seg.speaker)
        for w in data["words"]:
            w["speaker"] = names.get(w["speaker"], w["speaker"])
        out.append(data)
    return out


def detail(t: Transcript) -> dict[str, Any]:
    data = summary(t)
    data.update({
        "language_probability": t.language_probability, "word_timing": t.word_timing,
        "diarization": t.diarization, "options": t.options, "timings": t.timings,
        "speakers": [{"label": s.label, "name": s.display_name or s.label} for s in t.speakers],
        "segments": segments_data(t) if t.status == "done" else [],
        "parts": parts.counts(t.id),  # a long recording's parts (issue 11); all zero for a single-job file
    })
    return data
