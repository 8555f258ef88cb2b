"""The browser pages: the list with uploads, the job-status fragment, the transcript page."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_htmx.responses import HTMXResponseStopPolling

from webapp.blueprints.auth import current_user, login_required
from webapp.extensions import htmx
from webapp.services import transcripts
from webapp.services.submit import SubmitError, submit_media

bp = Blueprint("pages", __name__)


@bp.get("/")
@login_required
def index():
    items = transcripts.list_for(current_user(), limit=100)
    return render_template("pages/index.html", items=items)


@bp.post("/upload")
@login_required
def upload():
    files = [f for f in request.files.getlist("file") if f and f.filename]
    if not files:
        flash("Choose a file to upload.")
    for f in files:
        try:
            result = submit_media(f.stream, f.filename, "upload", request.form.to_dict(), owner=current_user())
            flash(f"{result.transcript.title}: {'queued' if result.created else 'already here'}.")
        except SubmitError as exc:
            flash(f"{f.filename}: {exc}")
    return redirect(url_for("pages.index"))


@bp.get("/transcripts/<int:transcript_id>/status")
@login_required
def status(transcript_id: int):
    """The job-status fragment. It polls itself while the job is active; once finished it stops (286)."""
    t = transcripts.get_for(current_user(), transcript_id)
    if t is None:
        abort(404)
    html = render_template("pages/_status.html", t=t)
    if htmx and not t.active:
        return HTMXResponseStopPolling(html)
    return html


@bp.get("/transcripts/<int:transcript_id>")
@login_required
def transcript(transcript_id: int):
    t = transcripts.get_for(current_user(), transcript_id, with_segments=True)
    if t is None:
        abort(404)
    return render_template("pages/transcript.html", t=t, names=t.speaker_names())
