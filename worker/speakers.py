"""Put diarization turns onto a transcript: a speaker per word, segments split at speaker changes."""
from __future__ import annotations

from collections import Counter
from typing import Any

from webapp.exports.words import join
from worker.result import Segment, TranscriptResult, Word


def _as_whisperx(segments: list[Segment]) -> dict[str, Any]:
    return {"segments": [
        {"start": s.start, "end": s.end, "text": s.text,
         "words": [{"word": w.word, "start": w.start, "end": w.end, "score": w.score} for w in s.words]}
        for s in segments
    ]}


def _split(seg: Segment) -> list[Segment]:
    """Cut a segment wherever consecutive words have different speakers. Each part's text is its words joined
    as the script is written: a space between two words, none next to a Chinese or Japanese character."""
    if not seg.words:
        return [seg]
    runs: list[list[Word]] = [[seg.words[0]]]
    for w in seg.words[1:]:
        if w.speaker != runs[-1][-1].speaker:
            runs.append([])
        runs[-1].append(w)
    if len(runs) == 1:
        return [seg]
    return [Segment(start=r[0].start, end=r[-1].end, text=join([w.word for w in r]), words=r,
                    language=seg.language, language_probability=seg.language_probability) for r in runs]


def apply_speakers(result: TranscriptResult, diarization: Any) -> TranscriptResult:
    """Assign speakers from a (start, end, speaker) DataFrame; relabel SPEAKER_00.. by first appearance."""
    if diarization is None or len(diarization) == 0 or not result.segments:
        result.speakers = []
        return result
    from whisperx.diarize import assign_word_speakers

    assigned = assign_word_speakers(diarization, _as_whisperx(result.segments), fill_nearest=True)
    for seg, out in zip(result.segments, assigned["segments"]):
        for w, ow in zip(seg.words, out.get("words", [])):
            w.speaker = ow.get("speaker")
        if not seg.words:
            seg.speaker = out.get("speaker")
    segments = [part for seg in result.segments for part in _split(seg)]

    names: dict[str, str] = {}
    for seg in segments:
        for label in [w.speaker for w in seg.words] or [seg.speaker]:
            if label is not None and label not in names:
                names[label] = f"SPEAKER_{len(names):02d}"
    for seg in segments:
        for w in seg.words:
            w.speaker = names.get(w.speaker) if w.speaker else None
        votes = Counter(w.speaker for w in seg.words if w.speaker)
        seg.speaker = votes.most_common(1)[0][0] if votes else names.get(seg.speaker) if seg.speaker else None
    result.segments = segments
    result.speakers = list(names.values())
    return result
