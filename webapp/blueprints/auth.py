"""Sign in and out of the web pages (a session cookie); the API uses bearer tokens instead."""
from __future__ import annotations

import hmac
import secrets
from functools import wraps
from urllib.parse import urlparse

from flask import Blueprint, abort, g, redirect, render_template, request, session, url_for

from webapp.extensions import db
from webapp.models import User
from webapp.services import signin_limit
from webapp.services.accounts import authenticate

bp = Blueprint("auth", __name__)

# CSRF is deny-by-default: every request that changes something needs the session's token, except in these
# blueprints, which authenticate each request with a bearer token (a browser never adds one by itself). A new
# browser blueprint is therefore protected without anyone remembering to list it.
CSRF_EXEMPT = {"api", "api_search", "hooks"}
CSRF_HEADER = "X-CSRF-Token"
CSRF_FAILED = "This form has expired. Reload the page and try again."


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
    """The sign-in form. Failed attempts are counted per address and per name; too many answer 429 for a while."""
    error = None
    if request.method == "POST":
        name, ip = request.form.get("username", ""), request.remote_addr or "-"
        wait = signin_limit.retry_after(ip, name)
        if wait is not None:
            minutes = max(1, round(wait / 60))
            message = (f"Too many failed sign-ins from here or for this name. Try again in about {minutes} "
                       f"minute{'s' if minutes != 1 else ''}.")
            return render_template("auth/login.html", error=message), 429, {"Retry-After": str(wait)}
        user = authenticate(name, request.form.get("password", ""))
        if user is not None:
            signin_limit.reset(ip, name)
            session.clear()  # a new session (and CSRF token) for the signed-in person
            session["uid"] = user.id
            return redirect(_safe_next(request.args.get("next")))
        signin_limit.record_failure(ip, name)
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
    """Refuse (403) a state-changing request without this session's token, sign-in and sign-out included."""
    if request.method in ("GET", "HEAD", "OPTIONS") or request.url_rule is None or request.blueprint in CSRF_EXEMPT:
        return None  # safe, or no such route (404/405 follow), or bearer-token authenticated
    sent = request.headers.get(CSRF_HEADER) or request.form.get("csrf_token") or ""
    expected = session.get("csrf") or ""
    if not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        abort(403, description=CSRF_FAILED)
    return None


@bp.app_context_processor
def _inject_user():
    return {"current_user": current_user(), "csrf_token": csrf_token}


@bp.app_errorhandler(400)
@bp.app_errorhandler(403)
def _bad_request(err):
    code = getattr(err, "code", 400) or 400
    message = getattr(err, "description", None) or "The request could not be understood."
    json_client = request.blueprint in CSRF_EXEMPT or request.path.startswith(("/api/", "/hooks/"))
    if json_client or request.accept_mimetypes.best == "application/json":  # the API, hooks, upload.js
        return {"error": message}, code
    if request.headers.get("HX-Request"):
        return message, code
    return render_template("errors/400.html", message=message), code
