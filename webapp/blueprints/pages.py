"""The browser pages: the list with uploads, the job-status fragment, job actions, the transcript reader."""
from __future__ import annotations

from flask import Blueprint, current_app, flash, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_htmx.responses import HTMXResponseStopPolling

from webapp.blueprints import sharing_pages
from webapp.blueprints.auth import current_user, login_required
from webapp.errors import DomainError
from webapp.extensions import htmx
from webapp.models.transcript import STATUSES
from webapp.services import jobs, transcripts
from webapp.services.submit import SubmitError, form_options, not_media_reason, submit_media

bp = Blueprint("pages", __name__)

PER_PAGE = 20
LANGUAGES = [("en", "English"), ("de", "German"), ("fr", "French"), ("es", "Spanish"), ("it", "Italian"),
             ("nl", "Dutch"), ("pt", "Portuguese"), ("pl", "Polish"), ("sv", "Swedish"), ("da", "Danish"),
             ("no", "Norwegian"), ("fi", "Finnish"), ("cs", "Czech"), ("ru", "Russian"), ("uk", "Ukrainian"),
             ("tr", "Turkish"), ("ar", "Arabic"), ("hi", "Hindi"), ("ja", "Japanese"), ("ko", "Korean"),
             ("zh", "Chinese")]


def installed_models() -> list[str]:
    """Model names the workers can load without a download (the registry is import-light: no torch)."""
    default = current_app.config["SCRIPTORIUM"].whisper_model
    try:
        from webapp.model_registry import installed

        names = list(installed(current_app.config["SCRIPTORIUM"].models_dir))
    except Exception:  # a web image without the worker package still offers the configured default
        names = []
    return names if default in names else [default, *names]


# webapp.model_auto.hint's words (English there: the CLI shows them too), in the page's language here.
_HINT_WORDS = {
    "fastest, least accurate": _l("fastest, least accurate"), "fast, fair accuracy": _l("fast, fair accuracy"),
    "balanced": _l("balanced"), "accurate, slow on a CPU": _l("accurate, slow on a CPU"),
    "most accurate, needs a GPU": _l("most accurate, needs a GPU"),
    "accurate and fast on a GPU": _l("accurate and fast on a GPU"),
    "fast large model, English best": _l("fast large model, English best"),
    "best installed for the worker's hardware": _l("best installed for the worker’s hardware"),
}
_ENGLISH_ONLY = ", English only"


@bp.app_template_global("model_hint")
def model_hint(name: str) -> str:
    """"fast / accurate" in a few words, beside each model on the upload form."""
    from webapp.model_auto import hint

    text = hint(name)
    english_only = text.endswith(_ENGLISH_ONLY)
    base = text.removesuffix(_ENGLISH_ONLY) if english_only else text
    words = str(_HINT_WORDS.get(base, base))
    return _("%(hint)s, English only", hint=words) if english_only else words


def _owned(transcript_id: int, **kw):
    """The signed-in person's own transcript (any, for an admin): job actions are the owner's alone."""
    return transcripts.owned(current_user(), transcript_id, **kw)


def _readable(transcript_id: int, **kw):
    """A transcript the signed-in person may see: their own or one shared with them."""
    return transcripts.readable(current_user(), transcript_id, **kw)


def _wants_json() -> bool:
    return request.accept_mimetypes.best == "application/json"


@bp.get("/")
@login_required
def index():
    """Upload form and the transcripts list; for htmx (filters, pages, refresh) just the list."""
    status = request.args.get("status") if request.args.get("status") in STATUSES else None
    tag = (request.args.get("tag") or "").replace("\x00", "").strip()[:64] or None
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    user = current_user()
    rows = transcripts.list_for(user, status=status, tag=tag, limit=PER_PAGE + 1, offset=(page - 1) * PER_PAGE)
    items = rows[:PER_PAGE]
    ctx = {"items": items, "has_next": len(rows) > PER_PAGE, "page": page, "status": status,
           "statuses": STATUSES, **sharing_pages.list_context(user, items, tag)}
    if htmx and htmx.target == "transcripts":
        resp = make_response(render_template("pages/_list.html", **ctx))
    else:
        resp = make_response(render_template("pages/index.html", languages=LANGUAGES, models=installed_models(),
                                             default_model=current_app.config["SCRIPTORIUM"].whisper_model, **ctx))
    resp.vary.add("HX-Request")
    return resp


@bp.post("/upload")
@login_required
def upload():
    """One or more files from the form. upload.js sends one file per request and wants JSON back."""
    files = [f for f in request.files.getlist("file") if f and f.filename]
    options = form_options(request.form)
    results = []
    for f in files:
        reason = not_media_reason(f.filename)
        try:
            if reason:
                raise SubmitError(reason)
            result = submit_media(f.stream, f.filename, "upload", options, owner=current_user())
            t = result.transcript
            results.append({"file": f.filename, "ok": True, "id": t.id, "title": t.title, "status": t.status,
                            "created": result.created, "url": url_for("pages.transcript", transcript_id=t.id),
                            "message": _("queued") if result.created else _("already uploaded: the same transcript")})
        except SubmitError as exc:
            results.append({"file": f.filename, "ok": False, "error": str(exc), "status_code": exc.status})
    if _wants_json():
        if not files:
            return {"error": _("choose a file to upload")}, 400
        if len(results) == 1 and not results[0]["ok"]:
            return {"files": results, "error": results[0]["error"]}, results[0]["status_code"]
        return {"files": results}, (201 if any(r.get("created") for r in results) else 200)
    if not files:
        flash(_("Choose a file to upload."))
    for r in results:
        flash(f"{r['file']}: {r['message'] if r['ok'] else r['error']}.")
    return redirect(url_for("pages.index"))


@bp.errorhandler(413)
def _too_large(err):
    limit = current_app.config["SCRIPTORIUM"].max_upload_mb
    message = _("the file is larger than the upload limit of %(limit)s MB", limit=limit)
    if _wants_json():
        return {"error": message}, 413
    flash(message[0].upper() + message[1:] + ".")
    return redirect(url_for("pages.index"))


@bp.get("/transcripts/<int:transcript_id>/status")
@login_required
def status(transcript_id: int):
    """The job-status fragment. It polls itself while the job is active; once finished it stops (286).

    ``?row=1`` (the list) also refreshes the row's action buttons out of band; ``?reader=1`` (the reader)
    reloads the page once the job is done, so the transcript appears.
    """
    t = _readable(transcript_id)
    where = "row" if request.args.get("row") else "reader" if request.args.get("reader") else None
    html = render_template("pages/_status.html", t=t, where=where, oob_actions=where == "row")
    if htmx and not t.active:
        resp = HTMXResponseStopPolling(html)
        if request.args.get("reader"):
            resp.headers["HX-Refresh"] = "true"
        return resp
    return html


def _after_action(t, message: str):
    """htmx swaps the updated row in; without JavaScript, back to the list with a message."""
    if htmx:
        return render_template("pages/_row.html", t=t,
                               **sharing_pages.list_context(current_user(), [t], None))
    flash(message)
    return redirect(request.referrer if request.referrer and request.referrer.startswith(request.host_url)
                    else url_for("pages.index"))


@bp.post("/transcripts/<int:transcript_id>/retry")
@login_required
def retry(transcript_id: int):
    t = _owned(transcript_id)
    try:
        jobs.retry(t)  # Conflict (running, or no recording kept) goes to the error negotiator
    except DomainError:
        raise
    except Exception:  # the queue could not be reached: requeue recorded that on the row, in words
        pass
    return _after_action(t, _("%(title)s: queued again.", title=t.title))


@bp.post("/transcripts/<int:transcript_id>/cancel")
@login_required
def cancel(transcript_id: int):
    t = _owned(transcript_id)
    jobs.cancel(t)
    return _after_action(t, _("%(title)s: cancelled.", title=t.title))


@bp.post("/transcripts/<int:transcript_id>/delete")
@login_required
def delete(transcript_id: int):
    t = _owned(transcript_id)
    title = t.title
    jobs.delete(t)
    if htmx:
        if htmx.target and htmx.target.startswith("row-"):
            return ""  # the row disappears
        resp = make_response("")
        resp.headers["HX-Redirect"] = url_for("pages.index")
        return resp
    flash(_("%(title)s: deleted.", title=title))
    return redirect(url_for("pages.index"))


@bp.get("/transcripts/<int:transcript_id>")
@login_required
def transcript(transcript_id: int):
    """The reader: player, speakers, segments with timed words; ``?t=SECONDS`` starts playback there."""
    t = _readable(transcript_id, with_segments=True)
    start_at = request.args.get("t", type=float)
    names = t.speaker_names()
    colors = {s.label: i % 8 for i, s in enumerate(t.speakers)}
    resp = make_response(render_template(
        "pages/transcript.html", t=t, names=names, colors=colors, start_at=start_at, is_video=t.media.is_video,
        **sharing_pages.reader_context(current_user(), t)))
    if t.owner_id != current_user().id:  # someone else's words: never kept in a shared cache
        resp.headers["Cache-Control"] = "private, no-store"
    return resp


@bp.app_template_filter("clock")
def clock(seconds: float | None) -> str:
    """Seconds as m:ss, or h:mm:ss from an hour on."""
    s = int(seconds or 0)
    h, m = divmod(s // 60, 60)
    return f"{h}:{m:02d}:{s % 60:02d}" if h else f"{m}:{s % 60:02d}"
