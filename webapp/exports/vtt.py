"""WebVTT (.vtt) subtitles from the cues of ``cues.build_cues``.

The format is simple enough to write directly (``webvtt-py`` is used to read it back in the tests); cue text
is escaped, and speakers can be marked with WebVTT voice tags (``<v Alice>``) that players may style.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from webapp.exports.cues import build_cues
from webapp.exports.words import Segment, display_name


def timestamp(seconds: float) -> str:
    """HH:MM:SS.mmm, the WebVTT cue time."""
    ms = round(seconds * 1000)
    hours, ms = divmod(ms, 3_600_000)
    minutes, ms = divmod(ms, 60_000)
    secs, ms = divmod(ms, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}.{ms:03d}"


def escape(text: str) -> str:
    """Cue text with the characters WebVTT reserves escaped."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def to_vtt(
    segments: Iterable[Segment],
    *,
    speaker_names: Mapping[str, str] | None = None,
    voice_tags: bool = False,
    **cue_options: Any,
) -> str:
    """The transcript as WebVTT; ``cue_options`` are the keyword arguments of ``build_cues``."""
    blocks = ["WEBVTT\n"]
    for cue in build_cues(segments, speaker_names=speaker_names, **cue_options):
        text = escape(cue.text)
        if voice_tags and cue.speaker is not None:
            text = f"<v {escape(display_name(cue.speaker, speaker_names) or '')}>{text}"
        blocks.append(f"{timestamp(cue.start)} --> {timestamp(cue.end)}\n{text}\n")
    return "\n".join(blocks)
