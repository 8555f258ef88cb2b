"""Reading transcripts: who may see what, and the JSON shape the API and exports share."""
from __future__ import annotations

from typing import Any

from flask_babel import gettext as _
from sqlalchemy import Select, select, text
from sqlalchemy.orm import selectinload

from webapp.errors import Conflict, Forbidden, NotFound
from webapp.extensions import db
from webapp.i18n import status_name
from webapp.models import Segment, Transcript, User
from webapp.services import parts


MAX_OFFSET = 2**31


def may_see_sql(alias: str, *, edit: bool = False) -> str:
    """SQL that is true when the person ``:uid`` may see (``edit``: may correct) the transcript row ``alias``: the
    one definition, used by the ORM queries here and by search's SQL. Not for admins (they see everything).

    Their own, or shared with them (as an editor, for ``edit``) directly or through a collection. Each EXISTS is
    an index lookup (shares by (user_id, transcript_id) / (user_id, collection_id), collection items by key)."""
    role = " AND sh.role = 'editor'" if edit else ""
    return (f"({alias}.owner_id = :uid"
            f" OR EXISTS (SELECT 1 FROM shares sh WHERE sh.user_id = :uid AND sh.transcript_id = {alias}.id{role})"
            f" OR EXISTS (SELECT 1 FROM shares sh JOIN collection_items ci ON ci.collection_id = sh.collection_id"
            f" WHERE sh.user_id = :uid AND ci.transcript_id = {alias}.id{role}))")


def visible(user: User) -> Select:
    """Transcripts ``user`` may see: their own and those shared with them, or all for an admin."""
    stmt = select(Transcript)
    return stmt if user.is_admin else stmt.where(text(may_see_sql("transcripts")).bindparams(uid=user.id))


def editable(user: User) -> Select:
    """Transcripts ``user`` may correct: their own and those shared with them as editor, or all for an admin."""
    stmt = select(Transcript)
    return stmt if user.is_admin else stmt.where(
        text(may_see_sql("transcripts", edit=True)).bindparams(uid=user.id))


def get_for(user: User, transcript_id: int, *, with_segments: bool = False) -> Transcript | None:
    stmt = visible(user).where(Transcript.id == transcript_id)
    if with_segments:
        stmt = stmt.options(selectinload(Transcript.segments).selectinload(Segment.words),
                            selectinload(Transcript.speakers))
    return db.session.scalar(stmt)


def readable(user: User, transcript_id: int, *, with_segments: bool = False) -> Transcript:
    """A transcript this user may see (own, shared, any for an admin), or NotFound: someone else's is not told
    apart from none.

    Without ``with_segments`` nothing of the text is loaded (a rename or a status poll does not need it).
    """
    t = get_for(user, transcript_id, with_segments=with_segments)
    if t is None:
        raise NotFound()
    return t


def can_edit(user: User, t: Transcript) -> bool:
    """Owner, admin, or an editor share (directly or through a collection)."""
    if user.is_admin or t.owner_id == user.id:
        return True
    stmt = editable(user).where(Transcript.id == t.id)
    return db.session.scalar(select(stmt.exists())) or False


def is_owner(user: User, t: Transcript) -> bool:
    return user.is_admin or t.owner_id == user.id


def for_edit(user: User, transcript_id: int) -> Transcript:
    """A transcript this user may correct; Forbidden (403) for a viewer, NotFound for anyone else."""
    t = readable(user, transcript_id)
    if not can_edit(user, t):
        raise Forbidden(_("this transcript is shared with you to read; only its owner or an editor can change it"))
    return t


def owned(user: User, transcript_id: int, *, with_segments: bool = False) -> Transcript:
    """This user's own transcript (any, for an admin), for what only an owner does (retry, cancel, delete,
    sharing). Forbidden when it is only shared with them, NotFound when they cannot see it at all."""
    t = readable(user, transcript_id, with_segments=with_segments)
    if not is_owner(user, t):
        raise Forbidden(_("only the owner of this transcript can do that"))
    return t


def require_done(t: Transcript, what: str | None = None) -> None:
    """Conflict unless the transcript is done (``what`` says what waits for it)."""
    if t.status != "done":
        what = what or _("downloads are ready")
        raise Conflict(_("the transcript is %(status)s; %(what)s when it is done", status=status_name(t.status), what=what))


def list_for(user: User, *, status: str | None = None, limit: int = 50, offset: int = 0,
             tag: str | None = None, collection_id: int | None = None) -> list[Transcript]:
    """Newest first; ``tag`` (one of this user's tags, any case) and ``collection_id`` narrow it down."""
    from webapp.services import sharing, tags  # they build on this module

    # each row carries its own filename and source, so the list needs no media rows
    stmt = visible(user).options(selectinload(Transcript.owner)).order_by(
        Transcript.created_at.desc(), Transcript.id.desc())
    if status:
        stmt = stmt.where(Transcript.status == status)
    if tag:
        stmt = stmt.where(tags.tagged(user, tag))
    if collection_id is not None:
        stmt = stmt.where(sharing.in_collection(collection_id))
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
        "language_probability": t.language_probability, "language_uncertain": t.language_uncertain,
        "word_timing": t.word_timing,
        "diarization": t.diarization, "options": t.options, "timings": t.timings,
        "speaker_count": t.speaker_count, "speaker_count_given": t.speaker_count_given,
        "speakers": [{"label": s.label, "name": s.display_name or s.label, "person_id": s.person_id,
                      "match": s.match, "similarity": s.similarity} for s in t.speakers],
        "segments": segments_data(t) if t.status == "done" else [],
        "parts": parts.counts(t.id),  # a long recording's parts (issue 11); all zero for a single-job file
    })
    return data
