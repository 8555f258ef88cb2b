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


def parse_flag(value: str | None) -> bool | None:
    """``?speakers=1|0`` and the like; None when absent (let the transcript decide)."""
    if value is None or value == "":
        return None
    return value.lower() in ("1", "true", "yes", "on")


def render_export(t: Transcript, fmt: str, *, speakers: bool | None = None,
                  timestamps: bool = False) -> tuple[str, str, str]:
    """(body, mimetype, filename) for one of exports.FORMATS.

    ``speakers`` None means: name the speakers when the transcript has more than one. Subtitles then carry the
    name at the start of each speaker's turn (SRT: "[Name] ", VTT: a ``<v Name>`` voice tag on every cue).
    """
    from flask import abort

    if fmt not in exports.FORMATS:
        abort(404)
    _, mimetype, ext = exports.FORMATS[fmt]
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
    return body, mimetype, download_name(t.title, ext)
