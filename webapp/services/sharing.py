"""Sharing with other accounts (viewer or editor), collections, and read-only share links.

Only a transcript's owner (or an admin) shares it, makes links to it or puts it in a collection; a collection's
owner shares the collection, which shares every transcript in it. Revoking deletes the row, so access ends with
the next request. Who may see or correct what is defined once, in ``transcripts.may_see_sql``.
"""
from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, delete, exists, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from flask_babel import gettext as _
from sqlalchemy.exc import IntegrityError

from webapp.errors import Conflict, Invalid, NotFound
from webapp.extensions import db
from webapp.models import Collection, Share, ShareLink, Transcript, User
from webapp.models.sharing import ROLES, collection_items
from webapp.models.user import utcnow

MAX_LINK_DAYS = 3650


# --- shares ------------------------------------------------------------------------------------------------

def _grantee(owner: User, name: str | None) -> User:
    name = (name or "").strip() if isinstance(name, str) else ""
    if not name:
        raise Invalid(_("name the account to share with"))
    user = db.session.scalar(select(User).where(func.lower(User.name) == name.lower()))
    if user is None:
        raise Invalid(_("there is no account named %(name)r", name=name))
    if user.id == owner.id:
        raise Invalid(_("you cannot share with yourself"))
    return user


def _role(role: str | None) -> str:
    role = role or "viewer"
    if role not in ROLES:
        raise Invalid(_("the role is 'viewer' or 'editor'"))
    return role


def share(by: User, *, transcript: Transcript | None = None, collection: Collection | None = None,
          user: str | None, role: str | None) -> Share:
    """Give the account named ``user`` ``role`` on the transcript or collection; sharing again changes the role."""
    role = _role(role)
    grantee = _grantee(by, user)
    owner_id = transcript.owner_id if transcript is not None else collection.owner_id
    if grantee.id == owner_id:
        raise Invalid(_("%(name)s owns it already", name=grantee.name))
    where = (Share.transcript_id == transcript.id) if transcript is not None else (Share.collection_id == collection.id)
    row = db.session.scalar(select(Share).where(where, Share.user_id == grantee.id))
    if row is None:
        row = Share(transcript_id=transcript.id if transcript else None,
                    collection_id=collection.id if collection else None, user_id=grantee.id, created_by_id=by.id)
        db.session.add(row)
    row.role = role
    try:
        db.session.commit()
    except IntegrityError:  # shared at the same moment from elsewhere
        db.session.rollback()
        raise Conflict(_("it was just shared with that account; reload to see the share")) from None
    return row


def shares_of(*, transcript: Transcript | None = None, collection: Collection | None = None) -> list[Share]:
    where = (Share.transcript_id == transcript.id) if transcript is not None else (Share.collection_id == collection.id)
    return list(db.session.scalars(select(Share).where(where).order_by(Share.created_at, Share.id)))


def revoke(share_id: int, *, transcript: Transcript | None = None, collection: Collection | None = None) -> None:
    where = (Share.transcript_id == transcript.id) if transcript is not None else (Share.collection_id == collection.id)
    done = db.session.execute(delete(Share).where(Share.id == share_id, where))
    db.session.commit()
    if not done.rowcount:
        raise NotFound(_("no such share"))


def share_dict(s: Share) -> dict[str, Any]:
    return {"id": s.id, "user": s.user.name, "role": s.role,
            "created_at": s.created_at.isoformat() if s.created_at else None}


def shared_by(user: User, items: list[Transcript]) -> dict[int, str]:
    """Owner names of the transcripts here that are not ``user``'s own (for "shared by ..." in lists)."""
    return {t.id: t.owner.name for t in items if t.owner_id != user.id}


def owner_names(user: User, transcript_ids: set[int]) -> dict[int, str]:
    """Like ``shared_by`` for ids only (search hits): the owner of each one ``user`` does not own."""
    if not transcript_ids:
        return {}
    stmt = (select(Transcript.id, User.name).join(User, User.id == Transcript.owner_id)
            .where(Transcript.id.in_(transcript_ids), Transcript.owner_id != user.id))
    return dict(db.session.execute(stmt).all())


# --- collections -------------------------------------------------------------------------------------------

def _collection_name(name: Any) -> str:
    name = " ".join(name.split()) if isinstance(name, str) else ""
    if not name:
        raise Invalid(_("a collection needs a name"))
    if len(name) > 120 or "\x00" in name:
        raise Invalid(_("a collection name is at most 120 characters, without NUL"))
    return name


def collections_for(user: User) -> list[Collection]:
    """Collections ``user`` owns, then those shared with them."""
    shared = select(Share.collection_id).where(Share.user_id == user.id, Share.collection_id.is_not(None))
    stmt = (select(Collection).where((Collection.owner_id == user.id) | Collection.id.in_(shared))
            .order_by((Collection.owner_id != user.id), func.lower(Collection.name)))
    return list(db.session.scalars(stmt))


def collection_for(user: User, collection_id: int, *, manage: bool = False) -> Collection:
    """A collection ``user`` owns or that is shared with them (``manage``: owns; admins: any), else NotFound."""
    c = db.session.get(Collection, collection_id)
    if c is None:
        raise NotFound(_("no such collection"))
    if user.is_admin or c.owner_id == user.id:
        return c
    if not manage and db.session.scalar(select(exists().where(Share.collection_id == c.id,
                                                               Share.user_id == user.id))):
        return c
    raise NotFound(_("no such collection"))


def create_collection(user: User, name: Any) -> Collection:
    name = _collection_name(name)
    if db.session.scalar(select(exists().where(Collection.owner_id == user.id, Collection.name == name))):
        raise Conflict(_("you already have a collection named %(name)r", name=name))
    c = Collection(owner_id=user.id, name=name)
    db.session.add(c)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise Conflict(_("you already have a collection named %(name)r", name=name)) from None
    return c


def rename_collection(c: Collection, name: Any) -> Collection:
    name = _collection_name(name)
    if name != c.name and db.session.scalar(select(exists().where(Collection.owner_id == c.owner_id,
                                                                   Collection.name == name))):
        raise Conflict(_("there is already a collection named %(name)r", name=name))
    c.name = name
    db.session.commit()
    return c


def delete_collection(c: Collection) -> None:
    """The collection and its shares go; the transcripts in it stay."""
    db.session.delete(c)
    db.session.commit()


def add_to_collection(c: Collection, t: Transcript) -> None:
    """Only the collection owner's own transcripts go in: sharing a collection must never pass on something
    that was only shared with its owner."""
    if t.owner_id != c.owner_id:
        raise Invalid(_("only the collection owner's own transcripts can be put in it"))
    db.session.execute(pg_insert(collection_items).values(collection_id=c.id, transcript_id=t.id, added_at=utcnow())
                       .on_conflict_do_nothing())  # already in it: nothing to do
    db.session.commit()


def remove_from_collection(c: Collection, transcript_id: int) -> None:
    db.session.execute(delete(collection_items).where(collection_items.c.collection_id == c.id,
                                                      collection_items.c.transcript_id == transcript_id))
    db.session.commit()


def in_collection(collection_id: int) -> ColumnElement[bool]:
    """A WHERE clause for the ORM: the transcript is in this collection."""
    return exists().where(collection_items.c.collection_id == collection_id,
                          collection_items.c.transcript_id == Transcript.id)


def collections_of(user: User, t: Transcript) -> list[Collection]:
    """Which of ``user``'s own collections hold ``t``."""
    stmt = (select(Collection).join(collection_items, collection_items.c.collection_id == Collection.id)
            .where(Collection.owner_id == user.id, collection_items.c.transcript_id == t.id)
            .order_by(func.lower(Collection.name)))
    return list(db.session.scalars(stmt))


def collection_dict(c: Collection, user: User) -> dict[str, Any]:
    count = db.session.scalar(select(func.count()).select_from(collection_items)
                              .where(collection_items.c.collection_id == c.id))
    return {"id": c.id, "name": c.name, "owner": c.owner.name, "mine": c.owner_id == user.id,
            "transcripts": count, "created_at": c.created_at.isoformat() if c.created_at else None}


# --- share links -------------------------------------------------------------------------------------------

def expiry(days: Any) -> datetime | None:
    """``expires_in_days``: None or empty for never, else a whole number of days from 1 to MAX_LINK_DAYS."""
    if days is None or days == "":
        return None
    if isinstance(days, bool):
        raise Invalid(_("expires_in_days is a whole number of days"))
    try:
        n = int(days)
    except (TypeError, ValueError):
        raise Invalid(_("expires_in_days is a whole number of days")) from None
    if isinstance(days, float) and days != n:
        raise Invalid(_("expires_in_days is a whole number of days"))
    if not 1 <= n <= MAX_LINK_DAYS:
        raise Invalid(_("expires_in_days is between 1 and %(max)s", max=MAX_LINK_DAYS))
    return utcnow() + timedelta(days=n)


def create_link(by: User, t: Transcript, expires_in_days: Any = None) -> tuple[ShareLink, str]:
    """A new link; returns the row and the raw token (shown once: only its digest is stored)."""
    expires_at = expiry(expires_in_days)
    raw = secrets.token_urlsafe(32)
    link = ShareLink(transcript_id=t.id, token_hash=ShareLink.digest(raw), created_by_id=by.id, expires_at=expires_at)
    db.session.add(link)
    db.session.commit()
    return link, raw


def links_of(t: Transcript) -> list[ShareLink]:
    return list(db.session.scalars(select(ShareLink).where(ShareLink.transcript_id == t.id)
                                   .order_by(ShareLink.created_at, ShareLink.id)))


def revoke_link(t: Transcript, link_id: int) -> None:
    done = db.session.execute(delete(ShareLink).where(ShareLink.id == link_id, ShareLink.transcript_id == t.id))
    db.session.commit()
    if not done.rowcount:
        raise NotFound(_("no such link"))


def link_dict(link: ShareLink) -> dict[str, Any]:
    return {"id": link.id, "created_at": link.created_at.isoformat() if link.created_at else None,
            "expires_at": link.expires_at.isoformat() if link.expires_at else None}


def transcript_for_link(raw: str, *, with_segments: bool = False) -> tuple[ShareLink, Transcript]:
    """The link's transcript while the link exists and has not expired; NotFound otherwise (revoked, expired,
    never made: all look the same)."""
    from sqlalchemy.orm import selectinload

    from webapp.models import Segment

    if not raw or len(raw) > 100:
        raise NotFound(_("this link does not exist, has expired or was revoked"))
    link = db.session.scalar(select(ShareLink).where(ShareLink.token_hash == ShareLink.digest(raw)))
    if link is None or (link.expires_at is not None and link.expires_at <= utcnow()):
        raise NotFound(_("this link does not exist, has expired or was revoked"))
    stmt = select(Transcript).where(Transcript.id == link.transcript_id)
    if with_segments:
        stmt = stmt.options(selectinload(Transcript.segments).selectinload(Segment.words),
                            selectinload(Transcript.speakers))
    return link, db.session.scalar(stmt)
