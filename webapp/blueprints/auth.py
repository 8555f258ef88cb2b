"""Sign in and out of the web pages (a session cookie); the API uses bearer tokens instead."""
from __future__ import annotations

import hmac
import secrets
from functools import wraps
from urllib.parse import urlparse

from flask import Blueprint, abort, g, redirect, render_template, request, session, url_for

from webapp.extensions import db
from webapp.models import User
from webapp.services.accounts import authenticate

bp = Blueprint("auth", __name__)

# Browser-facing blueprints whose POSTs need the session's CSRF token (the API and hooks use bearer tokens).
CSRF_PROTECTED = {"pages", "account", "edits", "search", "media"}
CSRF_HEADER = "X-CSRF-Token"


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


def csrf_token() -> str:
    """This session's CSRF token: in a hidden ``csrf_token`` field of forms, and in htmx's request headers."""
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return session["csrf"]


@bp.before_app_request
def _check_csrf():
    if request.method in ("GET", "HEAD", "OPTIONS") or request.blueprint not in CSRF_PROTECTED:
        return None
    sent = request.headers.get(CSRF_HEADER) or request.form.get("csrf_token") or ""
    expected = session.get("csrf") or ""
    if not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        abort(400, description="This form has expired. Reload the page and try again.")
    return None


@bp.app_context_processor
def _inject_user():
    return {"current_user": current_user(), "csrf_token": csrf_token}


@bp.app_errorhandler(400)
def _bad_request(err):
    message = getattr(err, "description", None) or "The request could not be understood."
    if request.blueprint not in CSRF_PROTECTED | {"auth"}:  # the API and hooks answer JSON
        return {"error": message}, 400
    if request.headers.get("HX-Request"):
        return message, 400
    return render_template("errors/400.html", message=message), 400
