"""Transcript exports (plain text, SRT, WebVTT, JSON) as pure functions of plain data.

Shared by the CLI, the web pages and the JSON API; nothing here touches Flask, the database or torch.
A transcript is a list of segment dicts ``{"start", "end", "speaker", "text", "words": [...]}``.
"""
from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

from webapp.exports.cues import Cue, build_cues
from webapp.exports.json_ import to_json
from webapp.exports.srt import to_srt
from webapp.exports.txt import to_txt
from webapp.exports.vtt import to_vtt
from webapp.exports.words import Segment


class Format(NamedTuple):
    function: Callable[..., str]
    mimetype: str
    extension: str


FORMATS: dict[str, Format] = {
    "txt": Format(to_txt, "text/plain; charset=utf-8", "txt"),
    "srt": Format(to_srt, "application/x-subrip; charset=utf-8", "srt"),
    "vtt": Format(to_vtt, "text/vtt; charset=utf-8", "vtt"),
    "json": Format(to_json, "application/json", "json"),
}

# Callers may pass the transcript's metadata to any format; only the formats that show it receive it.
METADATA = ("title", "language", "duration")


def export(fmt: str, segments: Iterable[Segment], **opts: Any) -> str:
    """The transcript in format ``fmt`` (a key of FORMATS); other options go to that format's function."""
    try:
        function = FORMATS[fmt.lower()].function
    except KeyError:
        raise ValueError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}") from None
    accepted = inspect.signature(function).parameters
    opts = {key: value for key, value in opts.items() if key not in METADATA or key in accepted}
    return function(list(segments), **opts)


__all__ = ["FORMATS", "Cue", "Format", "build_cues", "export", "to_json", "to_srt", "to_txt", "to_vtt"]
