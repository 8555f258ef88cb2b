"""Corrections from the reader, as htmx fragments: title, speaker names, a segment's speaker and its text."""
from __future__ import annotations

import json

from flask import Blueprint, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _

from webapp.blueprints.auth import current_user, login_required
from webapp.errors import NotFound
from webapp.extensions import htmx
from webapp.services import edits, transcripts

bp = Blueprint("edits", __name__, url_prefix="/transcripts/<int:transcript_id>")


def _owned(transcript_id: int):
    """The transcript without its text, if the signed-in person may correct it (owner, admin, editor share;
    a viewer gets 403). Every edit here touches one row, one segment or the speakers, so none loads every word
    (a rename of a three-hour recording reads one row)."""
    return transcripts.for_edit(current_user(), transcript_id)


def _segment(t, segment_id: int):
    seg = edits.segment_of(t, segment_id)
    if seg is None:
        raise NotFound()
    return seg


def _ctx(t) -> dict:
    return {"t": t, "names": t.speaker_names(), "colors": {s.label: i % 8 for i, s in enumerate(t.speakers)},
            "can_edit": True}


def _done_only(t) -> None:
    transcripts.require_done(t, _("it can be corrected"))


@bp.route("/title", methods=["GET", "POST"])
@login_required
def title(transcript_id: int):
    """GET: the title as an edit form (``?edit=1``) or as a heading; POST: save it."""
    t = _owned(transcript_id)
    if request.method == "POST":
        edits.set_title(t, request.form.get("title", ""))
        if not htmx:
            return redirect(url_for("pages.transcript", transcript_id=t.id))
    return render_template("pages/_title.html", t=t, editing=bool(request.args.get("edit")), can_edit=True)


@bp.post("/speakers/<label>")
@login_required
def rename_speaker(transcript_id: int, label: str):
    """Rename a speaker everywhere; player.js relabels the segments on the page from the event."""
    t = _owned(transcript_id)
    speaker = edits.rename_speaker(t, label, request.form.get("name", ""))
    if not htmx:
        return redirect(url_for("pages.transcript", transcript_id=t.id))
    resp = make_response(render_template("pages/_speakers.html", **_ctx(t)))
    resp.headers["HX-Trigger"] = json.dumps(
        {"speakerRenamed": {"label": speaker.label, "name": speaker.display_name or speaker.label}})
    return resp


@bp.route("/segments/<int:segment_id>/speaker", methods=["GET", "POST"])
@login_required
def segment_speaker(transcript_id: int, segment_id: int):
    """GET: a menu to move the segment to another speaker; POST: move it. Both answer the segment."""
    t = _owned(transcript_id)
    _done_only(t)
    seg = _segment(t, segment_id)
    if request.method == "POST":
        edits.reassign_segment(t, seg, request.form.get("speaker") or None, request.form.get("new_name"))
        if not htmx:
            return redirect(url_for("pages.transcript", transcript_id=t.id))
        resp = make_response(render_template("pages/_segment.html", seg=seg, **_ctx(t)))
        resp.headers["HX-Trigger"] = "speakersChanged"
        return resp
    return render_template("pages/_segment.html", seg=seg, choosing=True, **_ctx(t))


@bp.route("/segments/<int:segment_id>/text", methods=["GET", "POST"])
@login_required
def segment_text(transcript_id: int, segment_id: int):
    """GET ``?edit=1``: the segment as a text box; GET: as timed words; POST: save the text (on blur)."""
    t = _owned(transcript_id)
    _done_only(t)
    seg = _segment(t, segment_id)
    if request.method == "POST":
        edits.edit_segment_text(t, seg, request.form.get("text", ""))
        if not htmx:
            return redirect(url_for("pages.transcript", transcript_id=t.id, _anchor=f"seg-{seg.id}"))
    return render_template("pages/_segment.html", seg=seg, editing=bool(request.args.get("edit")), **_ctx(t))


@bp.get("/speakers")
@login_required
def speakers(transcript_id: int):
    """The speakers panel (refreshed when a segment moves to a new speaker)."""
    return render_template("pages/_speakers.html", **_ctx(_owned(transcript_id)))
