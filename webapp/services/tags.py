"""Tags: each person's own labels for the transcripts they can see. Nobody else ever sees them.

A name is unique per person whatever its case ("Work" and "work" are one tag, shown as first typed); a tag
nobody uses any more is removed with its last use, so the autocomplete offers only tags in use.
"""
from __future__ import annotations

from collections import defaultdict

from flask_babel import gettext as _
from sqlalchemy import ColumnElement, and_, delete, exists, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert

from webapp.errors import Invalid
from webapp.extensions import db
from webapp.models import Tag, Transcript, User
from webapp.models.sharing import transcript_tags
from webapp.models.user import utcnow

MAX_NAME = 64
MAX_PER_TRANSCRIPT = 50


def clean(name: str | None) -> str:
    """A tag name as stored: spaces collapsed, no commas (the forms split on them), 1-64 characters."""
    name = " ".join((name or "").replace(",", " ").split())
    if not name:
        raise Invalid(_("a tag needs a name"))
    if len(name) > MAX_NAME:
        raise Invalid(_("a tag name is at most %(max)s characters", max=MAX_NAME))
    if "\x00" in name or "/" in name:
        raise Invalid(_("a tag name cannot contain '/' or NUL characters"))
    return name


def _find(user: User, name: str) -> Tag | None:
    return db.session.scalar(select(Tag).where(Tag.owner_id == user.id, func.lower(Tag.name) == name.lower()))


def all_for(user: User) -> list[str]:
    """This person's tags, A to Z (the autocomplete and GET /api/v1/tags)."""
    return list(db.session.scalars(select(Tag.name).where(Tag.owner_id == user.id).order_by(func.lower(Tag.name))))


def counts_for(user: User) -> list[tuple[str, int]]:
    stmt = (select(Tag.name, func.count(transcript_tags.c.transcript_id))
            .outerjoin(transcript_tags, transcript_tags.c.tag_id == Tag.id)
            .where(Tag.owner_id == user.id).group_by(Tag.id).order_by(func.lower(Tag.name)))
    return [(n, c) for n, c in db.session.execute(stmt)]


def of(user: User, t: Transcript) -> list[str]:
    return of_many(user, [t.id]).get(t.id, [])


def of_many(user: User, transcript_ids: list[int]) -> dict[int, list[str]]:
    """This person's tags on each of these transcripts, in one query (for a list page)."""
    if not transcript_ids:
        return {}
    stmt = (select(transcript_tags.c.transcript_id, Tag.name).join(Tag, Tag.id == transcript_tags.c.tag_id)
            .where(Tag.owner_id == user.id, transcript_tags.c.transcript_id.in_(transcript_ids))
            .order_by(func.lower(Tag.name)))
    out: dict[int, list[str]] = defaultdict(list)
    for tid, name in db.session.execute(stmt):
        out[tid].append(name)
    return dict(out)


def add(user: User, t: Transcript, name: str) -> list[str]:
    """Put this person's tag ``name`` on ``t`` (made on first use); idempotent. Returns the transcript's tags."""
    name = clean(name)
    tag = _find(user, name)
    if tag is None:  # ON CONFLICT: the same tag made at the same moment (another tab, the API) is one tag
        db.session.execute(pg_insert(Tag).values(owner_id=user.id, name=name, created_at=utcnow())
                           .on_conflict_do_nothing())
        tag = _find(user, name)
    present = db.session.scalar(select(exists().where(transcript_tags.c.tag_id == tag.id,
                                                      transcript_tags.c.transcript_id == t.id)))
    if not present:
        if len(of(user, t)) >= MAX_PER_TRANSCRIPT:
            raise Invalid(_("a transcript can carry at most %(max)s tags", max=MAX_PER_TRANSCRIPT))
        db.session.execute(pg_insert(transcript_tags).values(tag_id=tag.id, transcript_id=t.id)
                           .on_conflict_do_nothing())
    db.session.commit()
    return of(user, t)


def remove(user: User, t: Transcript, name: str) -> list[str]:
    """Take this person's tag off ``t`` (nothing happens when it is not there); an unused tag goes away."""
    tag = _find(user, " ".join((name or "").split()))
    if tag is not None:
        db.session.execute(delete(transcript_tags).where(transcript_tags.c.tag_id == tag.id,
                                                         transcript_tags.c.transcript_id == t.id))
        still_used = db.session.scalar(select(exists().where(transcript_tags.c.tag_id == tag.id)))
        if not still_used:
            db.session.delete(tag)
        db.session.commit()
    return of(user, t)


def replace(user: User, t: Transcript, names: list[str]) -> list[str]:
    """Make this person's tags on ``t`` exactly ``names``."""
    wanted = {clean(n).lower(): clean(n) for n in names}
    if len(wanted) > MAX_PER_TRANSCRIPT:
        raise Invalid(_("a transcript can carry at most %(max)s tags", max=MAX_PER_TRANSCRIPT))
    for name in of(user, t):
        if name.lower() not in wanted:
            remove(user, t, name)
    for name in wanted.values():
        add(user, t, name)
    return of(user, t)


def tagged(user: User, name: str) -> ColumnElement[bool]:
    """A WHERE clause for the ORM: the transcript carries this person's tag ``name`` (any case)."""
    return exists().where(and_(transcript_tags.c.transcript_id == Transcript.id,
                               transcript_tags.c.tag_id == Tag.id, Tag.owner_id == user.id,
                               func.lower(Tag.name) == name.strip().lower()))


# The same filter for search's SQL (the transcript row is ``alias``; binds :uid and :tag).
def tagged_sql(alias: str) -> str:
    return (f"EXISTS (SELECT 1 FROM transcript_tags tt JOIN tags tg ON tg.id = tt.tag_id"
            f" WHERE tt.transcript_id = {alias}.id AND tg.owner_id = :uid AND lower(tg.name) = lower(:tag))")
