"""Tags, collections and sharing: who else may read (or correct) a transcript, and read-only links to one.

Tags belong to a person (each account sees only its own, names unique per owner whatever their case) and may be
put on any transcript that person can see. A collection groups its owner's transcripts; sharing one shares
every transcript in it, now and later. A share gives one account the role ``viewer`` (read, play, search,
download) or ``editor`` (also correct text and speakers) on a transcript or a collection. A share link lets
anyone holding its token read one transcript without signing in; like API tokens only a digest is stored.
"""
from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy import CheckConstraint, Column, DateTime, ForeignKey, Index, String, Table, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.extensions import db
from webapp.models.user import User, utcnow

ROLES = ("viewer", "editor")

transcript_tags = Table(
    "transcript_tags", db.metadata,
    Column("tag_id", ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True),
    Column("transcript_id", ForeignKey("transcripts.id", ondelete="CASCADE"), primary_key=True),
    Index("ix_transcript_tags_transcript", "transcript_id"),
)

collection_items = Table(
    "collection_items", db.metadata,
    Column("collection_id", ForeignKey("collections.id", ondelete="CASCADE"), primary_key=True),
    Column("transcript_id", ForeignKey("transcripts.id", ondelete="CASCADE"), primary_key=True),
    Column("added_at", DateTime(timezone=True), default=utcnow),
    Index("ix_collection_items_transcript", "transcript_id"),
)


class Tag(db.Model):
    __tablename__ = "tags"

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


# one "Work" per person, however it is typed; also the index the tag filter uses
Index("uq_tags_owner_lower_name", Tag.owner_id, func.lower(Tag.name), unique=True)


class Collection(db.Model):
    __tablename__ = "collections"
    __table_args__ = (UniqueConstraint("owner_id", "name", name="uq_collections_owner_name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    owner: Mapped[User] = relationship()


class Share(db.Model):
    """One account's access to a transcript or to a collection (exactly one of the two)."""

    __tablename__ = "shares"
    __table_args__ = (
        CheckConstraint("(transcript_id IS NULL) <> (collection_id IS NULL)", name="ck_shares_one_target"),
        CheckConstraint("role IN ('viewer', 'editor')", name="ck_shares_role"),
        UniqueConstraint("transcript_id", "user_id", name="uq_shares_transcript_user"),
        UniqueConstraint("collection_id", "user_id", name="uq_shares_collection_user"),
        # the visibility EXISTS clauses look shares up by (user, target)
        Index("ix_shares_user_transcript", "user_id", "transcript_id"),
        Index("ix_shares_user_collection", "user_id", "collection_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    transcript_id: Mapped[int | None] = mapped_column(ForeignKey("transcripts.id", ondelete="CASCADE"))
    collection_id: Mapped[int | None] = mapped_column(ForeignKey("collections.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(16), default="viewer")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    user: Mapped[User] = relationship(foreign_keys=[user_id])
    created_by: Mapped[User | None] = relationship(foreign_keys=[created_by_id])


class ShareLink(db.Model):
    """A read-only link to one transcript: ``/s/<token>``; only the token's SHA-256 digest is kept."""

    __tablename__ = "share_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    transcript_id: Mapped[int] = mapped_column(ForeignKey("transcripts.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    @staticmethod
    def digest(raw: str) -> str:
        return hashlib.sha256(raw.encode()).hexdigest()
