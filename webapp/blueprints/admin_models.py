"""/admin/models: installed models with size and use count; install in the background; remove. Admins only."""
from __future__ import annotations

from flask import Blueprint, abort, render_template, request

from webapp import model_hub, model_jobs
from webapp.blueprints.auth import current_user, login_required
from webapp.extensions import htmx

bp = Blueprint("admin_models", __name__, url_prefix="/admin/models")


@bp.before_request
@login_required
def _admins_only():
    if not current_user().is_admin:
        abort(404)


def _render(error: str | None = None, status: int = 200):
    jobs = model_jobs.install_jobs()
    ctx = {"installed": model_hub.list_installed(), "uses": model_jobs.use_counts(), "jobs": jobs, "error": error,
           "active": any(j["status"] in ("queued", "started") for j in jobs),
           "names": model_hub.whisper_names()}
    # htmx swaps only 2xx answers: the fragment carries the error itself
    return render_template("admin/_models.html" if htmx else "admin/models.html", **ctx), 200 if htmx else status


@bp.get("")
def models():
    return _render()


@bp.post("/install")
def install():
    name = (request.form.get("name") or "").strip()
    try:
        model_jobs.enqueue_install(name)
    except model_hub.HubError as exc:
        return _render(str(exc), 400)
    return _render()


@bp.post("/remove")
def remove():
    try:
        model_jobs.remove((request.form.get("name") or "").strip())
    except model_hub.HubError as exc:
        return _render(str(exc), 409)
    return _render()
