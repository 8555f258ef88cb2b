"""/account: the signed-in person's API tokens (create one, shown once; revoke one), password and sessions."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_babel import ngettext

from webapp.blueprints.auth import current_user, login_required
from webapp.extensions import htmx
from webapp.services import accounts, signin_limit

bp = Blueprint("account", __name__, url_prefix="/account")


def _render(new_token: str | None = None, new_name: str | None = None, error: str | None = None,
            password_error: str | None = None, password_done: str | None = None):
    template = "account/_tokens.html" if htmx else "account/account.html"
    return render_template(template, tokens=accounts.tokens_of(current_user()), new_token=new_token,
                           new_name=new_name, error=error, password_error=password_error,
                           password_done=password_done)


@bp.get("")
@login_required
def account():
    return _render()


@bp.post("/tokens")
@login_required
def create_token():
    """Issue a token; its secret is in this one response and never again (only its hash is stored)."""
    try:
        raw, name = accounts.issue_token(current_user(), request.form.get("name") or "")
    except accounts.AccountError as exc:
        return _render(error=str(exc)), 422
    return _render(new_token=raw, new_name=name)


@bp.post("/tokens/<int:token_id>/revoke")
@login_required
def revoke_token(token_id: int):
    try:
        accounts.revoke_token(current_user(), token_id)
    except accounts.NotFound:
        abort(404)
    if not htmx:
        return redirect(url_for("account.account"))
    return _render()


@bp.post("/password")
@login_required
def change_password():
    """A new password; every other session of this person ends (this one stays signed in)."""
    form, user, ip = request.form, current_user(), request.remote_addr or "-"
    wait = signin_limit.admit(ip, user.name)  # the current password is guessed no faster here than at /login
    if wait is not None:
        return render_template("account/account.html", tokens=accounts.tokens_of(user),
                               password_error=_("Too many wrong passwords from here. Try again later.")), 429
    try:
        ended = accounts.change_password(user, form.get("current", ""), form.get("new", ""), form.get("repeat", ""))
    except accounts.AccountError as exc:
        return render_template("account/account.html", tokens=accounts.tokens_of(current_user()),
                               password_error=str(exc)), 422
    signin_limit.reset(ip, user.name)
    others = " " + ngettext("%(num)d other session signed out.", "%(num)d other sessions signed out.", ended) if ended else ""
    return render_template("account/account.html", tokens=accounts.tokens_of(current_user()),
                           password_done=_("Password changed.") + others)


@bp.post("/sign-out-everywhere")
@login_required
def sign_out_everywhere():
    """End every session of this person, this one included (API tokens are not touched)."""
    accounts.end_all_sessions(current_user())
    session.clear()
    flash(_("You are signed out everywhere: every browser has to sign in again."))
    return redirect(url_for("auth.login"))
