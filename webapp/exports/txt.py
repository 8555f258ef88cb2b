"""Plain text: one paragraph per speaker turn, optionally headed by the turn's time and speaker name."""
from __future__ import annotations

from collections.abc import Iterable, Mapping

from webapp.exports.words import Segment, display_name, segment_speaker


def clock(seconds: float) -> str:
    """HH:MM:SS, as in "[00:01:02] Alice: ..."."""
    whole = int(seconds)
    return f"{whole // 3600:02d}:{whole // 60 % 60:02d}:{whole % 60:02d}"


def turns(segments: Iterable[Segment]) -> list[tuple[str | None, float, str]]:
    """(speaker, start in seconds, text) for each run of consecutive segments by the same speaker."""
    result: list[tuple[str | None, float, list[str]]] = []
    for seg in segments:
        text = str(seg.get("text") or "").strip() or " ".join(str(w.get("word", "")).strip() for w in seg.get("words") or [])
        if not text:
            continue
        speaker = segment_speaker(seg)
        if result and result[-1][0] == speaker:
            result[-1][2].append(text)
        else:
            result.append((speaker, float(seg.get("start") or 0.0), [text]))
    return [(speaker, start, " ".join(texts)) for speaker, start, texts in result]


def to_txt(
    segments: Iterable[Segment],
    *,
    speaker_names: Mapping[str, str] | None = None,
    with_speakers: bool = True,
    with_timestamps: bool = False,
) -> str:
    """The transcript as paragraphs separated by blank lines, e.g. "[00:01:02] Alice: text"."""
    paragraphs = []
    for speaker, start, text in turns(segments):
        head = f"[{clock(start)}] " if with_timestamps else ""
        if with_speakers and speaker is not None:
            head += f"{display_name(speaker, speaker_names)}: "
        paragraphs.append(head + text)
    return "\n\n".join(paragraphs) + "\n" if paragraphs else ""
