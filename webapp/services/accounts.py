"""Users and tokens: creating them, and finding who a request belongs to."""
from __future__ import annotations

import secrets
from datetime import datetime, timezone

from sqlalchemy import select

from webapp.extensions import db
from webapp.models import ApiToken, User


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
    tok.last_used_at = datetime.now(timezone.utc)
    db.session.commit()
    return tok.user


def authenticate(name: str, password: str) -> User | None:
    user = db.session.scalar(select(User).where(User.name == name))
    if user is not None and user.check_password(password):
        return user
    return None
