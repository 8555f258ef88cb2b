"""/s/<token>: one transcript, read-only, for anyone holding the link; no sign-in, nothing else of the account.

Every route here answers from the token alone: the page, the recording and the downloads are scoped to the
link's transcript (there is no transcript id in these URLs to change). A token that never existed, was revoked
or has expired is a plain 404. Responses are ``Cache-Control: private, no-store`` (a shared cache must not keep
them after a revocation) and ``Referrer-Policy: no-referrer`` (the token is in the URL: it must not leak in a
Referer header); the page is ``noindex``. The page sets no cookie: it has no forms and needs no CSRF token.
"""
from __future__ import annotations

from flask import Blueprint, render_template, request

from webapp.blueprints import media as media_bp
from webapp.services import sharing
from webapp.services.downloads import export_response

bp = Blueprint("share_link", __name__, url_prefix="/s/<token>")

LINK_HEADERS = {"Cache-Control": "private, no-store", "Referrer-Policy": "no-referrer",
                "X-Robots-Tag": "noindex, nofollow"}


@bp.after_request
def _headers(resp):
    for name, value in LINK_HEADERS.items():
        resp.headers[name] = value
    return resp


@bp.get("")
def reader(token: str):
    """The reader without anything that changes or leads elsewhere: title, player, text, downloads."""
    _, t = sharing.transcript_for_link(token, with_segments=True)
    names = t.speaker_names()
    colors = {s.label: i % 8 for i, s in enumerate(t.speakers)}
    return render_template("share/reader.html", t=t, token=token, names=names, colors=colors,
                           is_video=t.media.is_video)


@bp.get("/media")
def media(token: str):
    """The recording, with the same range handling and headers as the signed-in player's."""
    _, t = sharing.transcript_for_link(token)
    return media_bp.serve(t.media)


@bp.get("/download.<fmt>")
def download(token: str, fmt: str):
    _, t = sharing.transcript_for_link(token, with_segments=True)
    return export_response(t, fmt, request.args)
