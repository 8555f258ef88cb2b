"""JSON API under /api/v1, authenticated with ``Authorization: Bearer <token>``."""
from __future__ import annotations

from flask import Blueprint, g, request

from webapp.services import jobs, sharing, tags, transcripts
from webapp.services.accounts import user_for_token
from webapp.services.downloads import export_response
from webapp.services.submit import SubmitError, submit_media

bp = Blueprint("api", __name__, url_prefix="/api/v1")


@bp.before_request
def _require_token():
    header = request.headers.get("Authorization", "")
    scheme, _, raw = header.partition(" ")
    user = user_for_token(raw.strip()) if scheme.lower() == "bearer" and raw.strip() else None
    if user is None:
        return {"error": "a valid API token is required (Authorization: Bearer <token>)"}, 401, {
            "WWW-Authenticate": 'Bearer realm="scriptorium"'}
    g.user = user


def _owned(transcript_id: int, **kw):
    """The token owner's own transcript (any, for an admin): retry, cancel and delete are the owner's alone."""
    return transcripts.owned(g.user, transcript_id, **kw)


def _readable(transcript_id: int, **kw):
    """A transcript the token's owner may see: their own or one shared with them."""
    return transcripts.readable(g.user, transcript_id, **kw)


def _with_sharing(rows) -> list[dict]:
    """Summaries with the caller's own tags and, for what others shared, who shared it."""
    tag_map = tags.of_many(g.user, [t.id for t in rows])
    owners = sharing.shared_by(g.user, rows)
    return [{**transcripts.summary(t), "tags": tag_map.get(t.id, []), "shared_by": owners.get(t.id)} for t in rows]


@bp.post("/transcripts")
def create_transcript():
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise SubmitError("send the recording as a multipart form field named 'file'")
    result = submit_media(upload.stream, upload.filename, "upload", request.form.to_dict(), owner=g.user,
                          title=request.form.get("title") or None)
    body = transcripts.summary(result.transcript)
    body["created"] = result.created
    return body, (201 if result.created else 200)


@bp.get("/transcripts")
def list_transcripts():
    limit = min(max(request.args.get("limit", 50, type=int) or 50, 1), 200)
    offset = max(request.args.get("offset", 0, type=int) or 0, 0)
    status = request.args.get("status") or None
    tag = (request.args.get("tag") or "").replace("\x00", "").strip() or None
    items = transcripts.list_for(g.user, status=status, tag=tag, limit=limit, offset=offset)
    return {"items": _with_sharing(items), "limit": limit, "offset": offset}


@bp.get("/transcripts/<int:transcript_id>")
def get_transcript(transcript_id: int):
    t = _readable(transcript_id, with_segments=True)
    return {**transcripts.detail(t), **_with_sharing([t])[0], "can_edit": transcripts.can_edit(g.user, t)}


@bp.get("/transcripts/<int:transcript_id>/export.<fmt>")
def export_transcript(transcript_id: int, fmt: str):
    return export_response(_readable(transcript_id, with_segments=True), fmt, request.args)


@bp.post("/transcripts/<int:transcript_id>/retry")
def retry_transcript(transcript_id: int):
    t = _owned(transcript_id)
    jobs.retry(t)  # Conflict (409) when it is running or has no recording
    return transcripts.summary(t), 202


@bp.post("/transcripts/<int:transcript_id>/cancel")
def cancel_transcript(transcript_id: int):
    t = _owned(transcript_id)
    jobs.cancel(t)
    return transcripts.summary(t)


@bp.delete("/transcripts/<int:transcript_id>")
def delete_transcript(transcript_id: int):
    jobs.delete(_owned(transcript_id))
    return "", 204
