"""Accounts and their API tokens (stored only as SHA-256 digests)."""
from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timezone

from sqlalchemy import Boolean, DateTime, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from webapp.extensions import db


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class User(db.Model):
    """A person. Flask-Login's user: ``get_id()`` is the current sign-in's random session id (set when that
    session is started or loaded, see ``services.accounts``), never the user's row id, so that the cookie names
    a ``UserSession`` row that sign-out can revoke."""

    __tablename__ = "users"
    session_id = None  # not a column: the raw id of the sign-in this object was loaded for (per request)
    is_authenticated = True
    is_active = True
    is_anonymous = False

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    tokens: Mapped[list["ApiToken"]] = relationship(back_populates="user", cascade="all, delete-orphan")

    def get_id(self) -> str | None:
        return self.session_id

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password)  # scrypt

    def check_password(self, password: str) -> bool:
        return bool(self.password_hash) and check_password_hash(self.password_hash, password)

    def issue_token(self, name: str = "default", raw: str | None = None) -> str:
        """Create a token for this user and return its secret (shown once, stored only hashed)."""
        raw = raw or "scr_" + secrets.token_urlsafe(32)
        self.tokens.append(ApiToken(name=name, token_hash=ApiToken.digest(raw), prefix=raw[:8]))
        return raw


class ApiToken(db.Model):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(80), default="default")
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(12))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    user: Mapped[User] = relationship(back_populates="tokens")

    @staticmethod
    def digest(raw: str) -> str:
        # Tokens are 256-bit random strings, so a fast hash is enough (no KDF needed, unlike passwords).
        return hashlib.sha256(raw.encode()).hexdigest()
