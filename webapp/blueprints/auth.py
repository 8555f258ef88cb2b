"""Sign in and out of the web pages (a session cookie); the API uses bearer tokens instead."""
from __future__ import annotations

from functools import wraps
from urllib.parse import urlparse

from flask import Blueprint, g, redirect, render_template, request, session, url_for

from webapp.extensions import db
from webapp.models import User
from webapp.services.accounts import authenticate

bp = Blueprint("auth", __name__)


def current_user() -> User | None:
    if "user" not in g:
        uid = session.get("uid")
        g.user = db.session.get(User, uid) if uid else None
    return g.user


def login_required(view):
    """Pages need a signed-in user; anyone else is sent to /login and back."""
    @wraps(view)
    def wrapped(*args, **kwargs):
        if current_user() is None:
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)
    return wrapped


def _safe_next(target: str | None) -> str:
    parsed = urlparse(target or "")
    if target and not parsed.scheme and not parsed.netloc and target.startswith("/") and not target.startswith("//"):
        return target
    return url_for("pages.index")


@bp.route("/login", methods=["GET", "POST"])
def login():
    error = None
    if request.method == "POST":
        user = authenticate(request.form.get("username", ""), request.form.get("password", ""))
        if user is not None:
            session.clear()
            session["uid"] = user.id
            return redirect(_safe_next(request.args.get("next")))
        error = "That name and password do not match an account."
    return render_template("auth/login.html", error=error), (401 if error else 200)


@bp.post("/logout")
def logout():
    session.clear()
    return redirect(url_for("auth.login"))


@bp.app_context_processor
def _inject_user():
    return {"current_user": current_user()}
