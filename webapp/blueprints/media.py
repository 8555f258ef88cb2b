"""Bytes out of the reader: the recording (with HTTP Range, for either storage backend) and the downloads."""
from __future__ import annotations

import mimetypes

from flask import Blueprint, Response, abort, request

from webapp import storage
from webapp.blueprints.auth import current_user, login_required
from webapp.services import transcripts
from webapp.services.downloads import parse_flag, render_export

bp = Blueprint("media", __name__)


def _owned(transcript_id: int, **kw):
    t = transcripts.get_for(current_user(), transcript_id, **kw)
    if t is None:
        abort(404)
    return t


@bp.get("/transcripts/<int:transcript_id>/media")
@login_required
def media(transcript_id: int):
    """Stream the recording. Honours one byte range, so the player can seek anywhere in a long file at once."""
    t = _owned(transcript_id)
    store = storage.get()
    key = t.media.storage_key
    size = store.size(key)
    if size is None:
        abort(404)
    mime = t.media.mime or mimetypes.guess_type(t.media.original_name)[0] or "application/octet-stream"
    etag = t.media.sha256
    headers = {"Accept-Ranges": "bytes", "ETag": f'"{etag}"', "Cache-Control": "private, max-age=3600"}
    if request.if_none_match.contains(etag) and not request.range:
        return Response(status=304, headers=headers)
    byte_range = request.range
    if byte_range is not None and (request.if_range.etag not in (None, etag) or len(byte_range.ranges) != 1):
        byte_range = None  # other bytes than the client's copy, or several ranges (players never ask): send all
    if byte_range is not None:
        span = byte_range.range_for_length(size)
        if span is None:
            return Response(status=416, headers={**headers, "Content-Range": f"bytes */{size}"})
        start, stop = span
        headers["Content-Range"] = f"bytes {start}-{stop - 1}/{size}"
        body = store.stream(key, start, stop - start)
        return Response(body, status=206, mimetype=mime, headers={**headers, "Content-Length": str(stop - start)},
                        direct_passthrough=True)
    return Response(store.stream(key), mimetype=mime, headers={**headers, "Content-Length": str(size)},
                    direct_passthrough=True)


@bp.get("/transcripts/<int:transcript_id>/download.<fmt>")
@login_required
def download(transcript_id: int, fmt: str):
    """TXT, SRT, VTT or JSON from the shared export functions, named after the title."""
    t = _owned(transcript_id, with_segments=True)
    if t.status != "done":
        abort(409, description=f"The transcript is {t.status}; downloads are ready when it is done.")
    body, mimetype, filename = render_export(t, fmt, speakers=parse_flag(request.args.get("speakers")),
                                             timestamps=bool(parse_flag(request.args.get("timestamps"))))
    return Response(body, mimetype=mimetype, headers={"Content-Disposition": f'attachment; filename="{filename}"'})
