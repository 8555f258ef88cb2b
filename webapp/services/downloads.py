"""Transcript downloads, from the shared export functions."""
from __future__ import annotations

import re
import unicodedata
from urllib.parse import quote

from flask import Response
from werkzeug.http import dump_options_header

from webapp import exports
from webapp.errors import NotFound
from webapp.models import Transcript
from webapp.services.transcripts import require_done, segments_data

_UNSAFE = re.compile(r"[^\w .,()'&+-]+")  # \w is Unicode: letters of any script stay


def download_name(title: str, ext: str) -> str:
    """The title as a filename: any script, but no path separators, quotes or control characters."""
    stem = unicodedata.normalize("NFC", title.rsplit(".", 1)[0])
    stem = _UNSAFE.sub("_", stem).strip(" ._") or "transcript"
    return f"{stem[:100]}.{ext}"


def content_disposition(filename: str, disposition: str = "attachment") -> str:
    """``attachment; filename=...`` with an ASCII fallback, plus ``filename*`` (RFC 6266/5987, written by
    werkzeug) when the name is not ASCII, so "Réunion.txt" arrives as "Réunion.txt"."""
    ascii_name = unicodedata.normalize("NFKD", filename).encode("ascii", "ignore").decode("ascii")
    stem, _, ext = ascii_name.rpartition(".")
    stem = re.sub(r"[^A-Za-z0-9._ -]+", "_", stem).strip(" ._") or "transcript"
    options = {"filename": f"{stem}.{ext}" if ext else stem}
    if options["filename"] != filename:
        options["filename*"] = "UTF-8''" + quote(filename, safe="")
    return dump_options_header(disposition, options)


def parse_flag(value: str | None) -> bool | None:
    """``?speakers=1|0`` and the like; None when absent (let the transcript decide)."""
    if value is None or value == "":
        return None
    return value.lower() in ("1", "true", "yes", "on")


def render_export(t: Transcript, fmt: str, *, speakers: bool | None = None,
                  timestamps: bool = False) -> tuple[str, str, str]:
    """(body, content type, filename) for one of exports.FORMATS; NotFound for another format, Conflict while
    the transcript is not done.

    ``speakers`` None means: name the speakers when the transcript has more than one. Subtitles then carry the
    name at the start of each speaker's turn (SRT: "[Name] ", VTT: a ``<v Name>`` voice tag on every cue).
    """
    if fmt not in exports.FORMATS:
        raise NotFound(f"there is no {fmt!r} download; choose one of {', '.join(exports.FORMATS)}")
    require_done(t)
    _, content_type, ext = exports.FORMATS[fmt]
    segments = segments_data(t)
    if speakers is None:
        speakers = len({s["speaker"] for s in segments if s["speaker"]}) > 1
    opts: dict = {}
    if fmt == "srt" and speakers:
        opts["speaker_prefix"] = "name"
    elif fmt == "vtt":
        opts["voice_tags"] = speakers
    elif fmt == "txt":
        opts.update(with_speakers=speakers, with_timestamps=timestamps)
    body = exports.export(fmt, segments, title=t.title, language=t.language, duration=t.duration, **opts)
    return body, content_type, download_name(t.title, ext)


def export_response(t: Transcript, fmt: str, args) -> Response:
    """The download as a response: the page and the API answer the same bytes and headers."""
    body, content_type, filename = render_export(t, fmt, speakers=parse_flag(args.get("speakers")),
                                                 timestamps=bool(parse_flag(args.get("timestamps"))))
    # content_type, not mimetype: the format's type already names its charset (mimetype= would add a second)
    return Response(body, content_type=content_type,
                    headers={"Content-Disposition": content_disposition(filename)})
