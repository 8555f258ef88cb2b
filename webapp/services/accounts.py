"""Users, their sign-in sessions and API tokens: creating them, ending them, and finding who a request belongs to."""
from __future__ import annotations

import secrets
from datetime import datetime, timedelta, timezone

from flask_babel import gettext as _
from sqlalchemy import delete, or_, select, update
from werkzeug.security import check_password_hash, generate_password_hash

from webapp.extensions import db
from webapp.models import ApiToken, User, UserSession

# last_seen_at is written at most this often per session, so a busy page does not write a row per request.
SESSION_TOUCH = timedelta(seconds=60)
MIN_PASSWORD_LENGTH = 8
_dummy_hash: str | None = None


class AccountError(ValueError):
    """An account change that cannot be made; the message says why, in words for the person who asked."""


class NotFound(LookupError):
    """No such thing, or not this person's (the two are not told apart)."""


def _now() -> datetime:
    return datetime.now(timezone.utc)


def create_user(name: str, *, admin: bool = False, password: str | None = None,
                token: str | None = None) -> tuple[User, str]:
    """Create a user with one API token; returns (user, the token's secret)."""
    user = User(name=name, is_admin=admin)
    if password:
        user.set_password(password)
    raw = user.issue_token("default", raw=token)
    db.session.add(user)
    db.session.commit()
    return user, raw


def ensure_admin(password: str | None = None, token: str | None = None) -> tuple[User, str | None, str | None]:
    """First start: create ``admin``. Returns (user, new password or None, new token or None).

    When SCRIPTORIUM_ADMIN_PASSWORD / _TOKEN are given they are (re)applied on every start, so automation can
    rely on them; otherwise generated ones are returned once, on the first start only.
    """
    user = db.session.scalar(select(User).where(User.name == "admin"))
    new_password = new_token = None
    if user is None:
        new_password = password or secrets.token_urlsafe(12)
        user, new_token = create_user("admin", admin=True, password=new_password, token=token)
        return user, (None if password else new_password), (None if token else new_token)
    if password and not user.check_password(password):
        user.set_password(password)
    if token and db.session.scalar(select(ApiToken).where(ApiToken.token_hash == ApiToken.digest(token))) is None:
        user.issue_token("automation", raw=token)
    db.session.commit()
    return user, new_password, new_token


def user_for_token(raw: str) -> User | None:
    """The active user a bearer token belongs to, or None."""
    tok = db.session.scalar(
        select(ApiToken).where(ApiToken.token_hash == ApiToken.digest(raw), ApiToken.revoked_at.is_(None))
    )
    if tok is None:
        return None
    tok.last_used_at = _now()
    db.session.commit()
    return tok.user


def _dummy() -> str:
    """A scrypt hash of nothing anyone knows, made with the same parameters as real ones."""
    global _dummy_hash
    if _dummy_hash is None:
        _dummy_hash = generate_password_hash(secrets.token_urlsafe(16))
    return _dummy_hash


def authenticate(name: str, password: str) -> User | None:
    """The user with this name and password, or None. An unknown name (or an account without a password) costs
    one scrypt check too, so the answer's timing does not tell which names exist."""
    user = db.session.scalar(select(User).where(User.name == name))
    stored = user.password_hash if user is not None and user.password_hash else _dummy()
    matches = check_password_hash(stored, password)
    return user if matches and user is not None and user.password_hash else None


# Sessions: the browser's signed cookie carries only a random id; the row decides whether it still counts.

def start_session(user: User, max_age: timedelta) -> str:
    """Record a new sign-in for ``user`` and return its secret id (kept in the signed cookie, stored hashed)."""
    raw = secrets.token_urlsafe(32)
    db.session.execute(delete(UserSession).where(  # this person's finished sessions are no longer needed
        UserSession.user_id == user.id,
        or_(UserSession.revoked_at.is_not(None), UserSession.created_at < _now() - max_age)))
    db.session.add(UserSession(sid_hash=UserSession.digest(raw), user_id=user.id))
    db.session.commit()
    user.session_id = raw
    return raw


def user_for_session(raw: str, max_age: timedelta) -> User | None:
    """The user of a live session (not ended, not older than ``max_age``), or None."""
    now = _now()
    row = db.session.scalar(select(UserSession).where(
        UserSession.sid_hash == UserSession.digest(raw), UserSession.revoked_at.is_(None),
        UserSession.created_at > now - max_age))
    if row is None:
        return None
    user = row.user
    if now - row.last_seen_at > SESSION_TOUCH:
        row.last_seen_at = now
        db.session.commit()
    user.session_id = raw
    return user


def end_session(raw: str | None) -> None:
    """Sign-out: this session no longer counts, even if its cookie was copied."""
    if raw:
        db.session.execute(update(UserSession).where(UserSession.sid_hash == UserSession.digest(raw),
                                                     UserSession.revoked_at.is_(None)).values(revoked_at=_now()))
        db.session.commit()


def end_all_sessions(user: User, keep: str | None = None) -> int:
    """Sign ``user`` out everywhere (except the session ``keep``); returns how many sessions ended."""
    query = update(UserSession).where(UserSession.user_id == user.id, UserSession.revoked_at.is_(None))
    if keep:
        query = query.where(UserSession.sid_hash != UserSession.digest(keep))
    ended = db.session.execute(query.values(revoked_at=_now())).rowcount
    db.session.commit()
    return ended


def change_password(user: User, current: str, new: str, repeated: str) -> int:
    """Set a new password and end every other session of this person; returns how many were ended."""
    if not user.check_password(current):
        raise AccountError(_("The current password is not right."))
    if len(new) < MIN_PASSWORD_LENGTH:
        raise AccountError(_("The new password needs at least %(num)d characters.", num=MIN_PASSWORD_LENGTH))
    if new != repeated:
        raise AccountError(_("The new password and its repetition differ."))
    user.set_password(new)
    db.session.commit()
    return end_all_sessions(user, keep=user.session_id)


# API tokens

def tokens_of(user: User) -> list[ApiToken]:
    """Active tokens first, newest first."""
    return list(db.session.scalars(
        select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.revoked_at.is_not(None),
                                                                     ApiToken.created_at.desc())))


def issue_token(user: User, name: str) -> tuple[str, str]:
    """Issue a named token; returns (its secret, shown once and stored only hashed; the name as kept)."""
    name = " ".join((name or "").split())[:80]
    if not name:
        raise AccountError(_("Give the token a name, such as the script or machine that will use it."))
    raw = user.issue_token(name)
    db.session.commit()
    return raw, name


def revoke_token(user: User, token_id: int) -> None:
    """Revoke one of ``user``'s tokens (at once: the next request with it is refused)."""
    tok = db.session.get(ApiToken, token_id)
    if tok is None or tok.user_id != user.id:
        raise NotFound(token_id)
    if tok.revoked_at is None:
        tok.revoked_at = _now()
        db.session.commit()
