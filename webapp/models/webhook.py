"""Completion webhooks (issue 15 item 3): where an account wants to hear about finished transcripts, and the log of
every delivery attempt."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.extensions import db
from webapp.models.user import User, utcnow

EVENTS = ("transcript.done", "transcript.failed")


class Webhook(db.Model):
    """A URL that is POSTed a signed JSON body when one of the account's transcripts reaches ``events``.

    ``secret_enc`` is the signing secret encrypted with a key derived from SECRET_KEY (Fernet): the worker must be
    able to read it back to sign, so a hash (as for API tokens) cannot work, and a database dump alone does not
    give a reader the means to forge deliveries.
    """

    __tablename__ = "webhooks"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    url: Mapped[str] = mapped_column(String(2000))
    events: Mapped[list] = mapped_column(JSON)
    secret_enc: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    user: Mapped[User] = relationship()


class WebhookDelivery(db.Model):
    """One attempt to deliver one event. Retries of the same delivery share ``delivery_id`` (the
    ``X-Scriptorium-Delivery`` header, so a receiver can ignore a repeat) and count up ``attempt``."""

    __tablename__ = "webhook_deliveries"

    id: Mapped[int] = mapped_column(primary_key=True)
    webhook_id: Mapped[int] = mapped_column(ForeignKey("webhooks.id", ondelete="CASCADE"), index=True)
    delivery_id: Mapped[str] = mapped_column(String(36), index=True)
    event: Mapped[str] = mapped_column(String(40))
    transcript_id: Mapped[int | None] = mapped_column(Integer)
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    outcome: Mapped[str] = mapped_column(String(16), default="pending")  # pending|delivered|retrying|failed|refused
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
