"""/account: the signed-in person's API tokens (create one, shown once; revoke one)."""
from __future__ import annotations

from datetime import datetime, timezone

from flask import Blueprint, abort, redirect, render_template, request, url_for
from sqlalchemy import select

from webapp.blueprints.auth import current_user, login_required
from webapp.extensions import db, htmx
from webapp.models import ApiToken

bp = Blueprint("account", __name__, url_prefix="/account")


def _tokens(user) -> list[ApiToken]:
    return list(db.session.scalars(
        select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.revoked_at.is_not(None),
                                                                     ApiToken.created_at.desc())))


def _render(new_token: str | None = None, new_name: str | None = None, error: str | None = None):
    template = "account/_tokens.html" if htmx else "account/account.html"
    return render_template(template, tokens=_tokens(current_user()), new_token=new_token, new_name=new_name,
                           error=error)


@bp.get("")
@login_required
def account():
    return _render()


@bp.post("/tokens")
@login_required
def create_token():
    """Issue a token; its secret is in this one response and never again (only its hash is stored)."""
    name = " ".join((request.form.get("name") or "").split())[:80]
    if not name:
        return _render(error="Give the token a name, such as the script or machine that will use it."), 422
    user = current_user()
    raw = user.issue_token(name)
    db.session.commit()
    return _render(new_token=raw, new_name=name)


@bp.post("/tokens/<int:token_id>/revoke")
@login_required
def revoke_token(token_id: int):
    tok = db.session.get(ApiToken, token_id)
    if tok is None or tok.user_id != current_user().id:
        abort(404)
    if tok.revoked_at is None:
        tok.revoked_at = datetime.now(timezone.utc)
        db.session.commit()
    if not htmx:
        return redirect(url_for("account.account"))
    return _render()
