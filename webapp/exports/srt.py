"""SubRip (.srt) subtitles, written with the ``srt`` library from the cues of ``cues.build_cues``."""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import Any

import srt

from webapp.exports.cues import build_cues
from webapp.exports.words import Segment


def to_srt(segments: Iterable[Segment], *, speaker_names: Mapping[str, str] | None = None, **cue_options: Any) -> str:
    """The transcript as SRT; ``cue_options`` are the keyword arguments of ``build_cues`` (limits, speaker prefix)."""
    cues = build_cues(segments, speaker_names=speaker_names, **cue_options)
    subtitles = [
        srt.Subtitle(
            index=n,
            start=timedelta(milliseconds=round(cue.start * 1000)),
            end=timedelta(milliseconds=round(cue.end * 1000)),
            content=cue.text,
        )
        for n, cue in enumerate(cues, start=1)
    ]
    return srt.compose(subtitles, reindex=False)
