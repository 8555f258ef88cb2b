"""Reading transcripts: who may see what, and the JSON shape the API and exports share."""
from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import selectinload

from webapp.extensions import db
from webapp.models import Segment, Transcript, User


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


def list_for(user: User, *, status: str | None = None, limit: int = 50, offset: int = 0) -> list[Transcript]:
    # media in the same round trip: every row shows where its file came from (one query, not one per row)
    stmt = visible(user).options(selectinload(Transcript.media)).order_by(
        Transcript.created_at.desc(), Transcript.id.desc())
    if status:
        stmt = stmt.where(Transcript.status == status)
    return list(db.session.scalars(stmt.limit(limit).offset(offset)))


def summary(t: Transcript) -> dict[str, Any]:
    return {
        "id": t.id, "title": t.title, "status": t.status, "stage": t.stage, "progress": t.progress,
        "error": t.error, "language": t.language, "duration": t.duration, "model": t.model,
        "source": t.media.source, "filename": t.media.original_name, "attempts": t.attempts,
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
        "speaker_count": t.speaker_count, "speaker_count_given": t.speaker_count_given,
        "speakers": [{"label": s.label, "name": s.display_name or s.label} for s in t.speakers],
        "segments": segments_data(t) if t.status == "done" else [],
    })
    return data
