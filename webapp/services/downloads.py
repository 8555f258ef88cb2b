"""Transcript downloads, from the shared export functions."""
from __future__ import annotations

import re

from webapp import exports
from webapp.models import Transcript
from webapp.services.transcripts import segments_data


def download_name(title: str, ext: str) -> str:
    """An ASCII filename safe in a Content-Disposition header."""
    stem = re.sub(r"[^A-Za-z0-9._ -]+", "_", title.rsplit(".", 1)[0]).strip(" ._") or "transcript"
    return f"{stem[:100]}.{ext}"


def render_export(t: Transcript, fmt: str) -> tuple[str, str, str]:
    """(body, mimetype, filename) for one of exports.FORMATS."""
    from flask import abort

    if fmt not in exports.FORMATS:
        abort(404)
    _, mimetype, ext = exports.FORMATS[fmt]
    body = exports.export(fmt, segments_data(t), title=t.title, language=t.language, duration=t.duration)
    return body, mimetype, download_name(t.title, ext)
