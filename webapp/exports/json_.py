"""JSON with everything: metadata, speakers and their names, segments and timed words, in a fixed key order."""
from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from typing import Any

from webapp.exports.words import Segment, display_name

# a segment's language and how sure its detection was (issue 14); the probability is null where the language was
# given, both are null where unknown (older transcripts)
SEGMENT_KEYS = ("start", "end", "speaker", "text", "language", "language_probability")
WORD_KEYS = ("word", "start", "end", "score", "speaker")


def _number(value: Any) -> Any:
    """NaN and infinity (alignment can produce them) are not JSON: write them as null."""
    return None if isinstance(value, float) and not math.isfinite(value) else value


def transcript_document(
    segments: Iterable[Segment],
    *,
    speaker_names: Mapping[str, str] | None = None,
    title: str | None = None,
    language: str | None = None,
    duration: float | None = None,
) -> dict[str, Any]:
    """The plain-data document that ``to_json`` serialises; keys always appear in the same order."""
    segs = [
        {key: _number(seg.get(key)) for key in SEGMENT_KEYS}
        | {"words": [{key: _number(w.get(key)) for key in WORD_KEYS} for w in seg.get("words") or []]}
        for seg in segments
    ]
    labels: dict[str, None] = {}
    for seg in segs:
        for label in (seg["speaker"], *(w["speaker"] for w in seg["words"])):
            if label is not None:
                labels.setdefault(label)
    if duration is None and segs:
        duration = max((s["end"] for s in segs if s["end"] is not None), default=None)
    return {
        "title": title,
        "language": language,
        "duration": _number(duration),
        "speakers": {label: display_name(label, speaker_names) for label in labels},
        "segments": segs,
    }


def to_json(
    segments: Iterable[Segment],
    *,
    speaker_names: Mapping[str, str] | None = None,
    title: str | None = None,
    language: str | None = None,
    duration: float | None = None,
    indent: int | None = 2,
) -> str:
    """The transcript as a JSON document (UTF-8 text, not ASCII-escaped)."""
    document = transcript_document(
        segments, speaker_names=speaker_names, title=title, language=language, duration=duration
    )
    return json.dumps(document, ensure_ascii=False, indent=indent, allow_nan=False) + "\n"
