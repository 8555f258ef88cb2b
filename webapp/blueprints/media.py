"""Bytes out of the reader: the recording (with HTTP Range, for either storage backend) and the downloads.

The recording is served only when the probe said it is audio or video, with the type the probe gave (never one
from the uploader's filename), ``nosniff``, and a CSP that allows nothing and sandboxes the response: even bytes
a browser might take for a page can run no script in our origin. Anything not audio/video is an attachment.
"""
from __future__ import annotations

from flask import Blueprint, Response, request

from webapp import storage
from webapp.blueprints.auth import current_user, login_required
from webapp.errors import NotFound
from webapp.services import transcripts
from webapp.services.downloads import content_disposition, export_response

bp = Blueprint("media", __name__)
MEDIA_CSP = "default-src 'none'; sandbox"


def media_headers(media) -> dict[str, str]:
    """Headers every answer of /media carries (200, 206, 304, 416)."""
    headers = {
        "Accept-Ranges": "bytes", "ETag": f'"{media.sha256}"', "Cache-Control": "private, max-age=3600",
        "X-Content-Type-Options": "nosniff", "Content-Security-Policy": MEDIA_CSP,
        "Cross-Origin-Resource-Policy": "same-origin",
    }
    if not media.playable:  # probed as media, but of a type we do not name: a download, never a page
        headers["Content-Disposition"] = content_disposition("recording", "attachment")
    return headers


@bp.get("/transcripts/<int:transcript_id>/media")
@login_required
def media(transcript_id: int):
    """Stream the recording. Honours one byte range, so the player can seek anywhere in a long file at once."""
    return serve(transcripts.readable(current_user(), transcript_id).media)


def serve(m):
    """The answer for one media row (the signed-in player's and a share link's): full, ranged, 304 or 416."""
    if not m.storage_key or not m.mime:  # nothing kept, or never probed as audio/video
        raise NotFound("no recording is kept for this transcript")
    store = storage.get()
    size = store.size(m.storage_key)
    if size is None:
        raise NotFound("the recording is missing from storage")
    headers = media_headers(m)
    mime = m.mime if m.playable else "application/octet-stream"  # a type we do not know is never rendered
    if request.if_none_match.contains(m.sha256) and not request.range:
        return Response(status=304, headers=headers)
    byte_range = request.range
    if byte_range is not None and (request.if_range.etag not in (None, m.sha256) or len(byte_range.ranges) != 1):
        byte_range = None  # other bytes than the client's copy, or several ranges (players never ask): send all
    if byte_range is not None:
        span = byte_range.range_for_length(size)
        if span is None:
            return Response(status=416, headers={**headers, "Content-Range": f"bytes */{size}"})
        start, stop = span
        headers["Content-Range"] = f"bytes {start}-{stop - 1}/{size}"
        body = store.stream(m.storage_key, start, stop - start)
        return Response(body, status=206, content_type=mime,
                        headers={**headers, "Content-Length": str(stop - start)}, direct_passthrough=True)
    return Response(store.stream(m.storage_key), content_type=mime,
                    headers={**headers, "Content-Length": str(size)}, direct_passthrough=True)


@bp.get("/transcripts/<int:transcript_id>/download.<fmt>")
@login_required
def download(transcript_id: int, fmt: str):
    """TXT, SRT, VTT or JSON from the shared export functions, named after the title."""
    return export_response(transcripts.readable(current_user(), transcript_id, with_segments=True), fmt, request.args)
