"""Flatten a transcript's segments into timed words, the unit the subtitle exports are built from.

Times are kept in whole milliseconds from here on, so that cue arithmetic is exact and SRT/VTT rounding
can never make two cues overlap.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

Segment = Mapping[str, Any]
CJK_SPLIT = 6  # a Chinese or Japanese "word" longer than this (no spaces to break at) is cut into characters
_CJK_RANGES = ((0x3000, 0x30FF), (0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF), (0xFF00, 0xFFEF))


def is_cjk(char: str) -> bool:
    """A Chinese or Japanese character or punctuation mark: written with no space before or after it."""
    return any(lo <= ord(char) <= hi for lo, hi in _CJK_RANGES)


def join(tokens: Sequence[str]) -> str:
    """Tokens as displayed: a space between two, except where either side is Chinese or Japanese."""
    out = ""
    for token in tokens:
        if out and token and not (is_cjk(out[-1]) or is_cjk(token[0])):
            out += " "
        out += token
    return out


def _pieces(token: str) -> list[str]:
    """A long CJK token cut into characters (punctuation kept with the character before it)."""
    if len(token) <= CJK_SPLIT or not any(map(is_cjk, token)):
        return [token]
    out: list[str] = []
    for char in token:
        if out and (char in "、。，．！？：；」』）】" or not is_cjk(char) and not is_cjk(out[-1][-1])):
            out[-1] += char
        else:
            out.append(char)
    return out


@dataclass(frozen=True)
class Word:
    text: str
    start_ms: int
    end_ms: int
    speaker: str | None
    language: str | None = None  # the segment's: a cue never spans a change of language


def to_ms(seconds: float | None, default: int = 0) -> int:
    """Seconds (possibly missing) to whole milliseconds."""
    return default if seconds is None else int(round(float(seconds) * 1000))


def display_name(label: str | None, speaker_names: Mapping[str, str] | None) -> str | None:
    """The name a user gave a speaker label, else the label itself."""
    if label is None:
        return None
    return (speaker_names or {}).get(label) or label


def segment_speaker(segment: Segment) -> str | None:
    """The segment's speaker, or the most common speaker among its words when the segment has none."""
    if segment.get("speaker"):
        return segment["speaker"]
    labels = Counter(w.get("speaker") for w in segment.get("words") or [] if w.get("speaker"))
    return labels.most_common(1)[0][0] if labels else None


def flatten_words(segments: Iterable[Segment]) -> list[Word]:
    """Every word of the transcript in order, with a time and a speaker each.

    Segments without word timings are split into words whose times share the segment's span in proportion to
    their length; words that alignment left untimed (often numbers) share the gap between their timed neighbours.
    """
    words: list[Word] = []
    for seg in segments:
        seg_start = to_ms(seg.get("start"))
        seg_end = max(seg_start, to_ms(seg.get("end"), seg_start))
        speaker, language = seg.get("speaker"), seg.get("language")
        raw = [w for w in seg.get("words") or [] if str(w.get("word") or "").strip()]
        if raw:
            timed = _timed_words(raw, seg_start, seg_end, speaker)
        else:
            tokens = str(seg.get("text") or "").split()
            spans = _share(seg_start, seg_end, tokens)
            timed = [Word(t, s, e, speaker) for t, (s, e) in zip(tokens, spans)]
        for word in timed:
            pieces = _pieces(word.text)
            if len(pieces) == 1:
                words.append(Word(word.text, word.start_ms, word.end_ms, word.speaker, language))
            else:  # share the word's time among its characters
                words.extend(Word(p, s, e, word.speaker, language) for p, (s, e) in
                             zip(pieces, _share(word.start_ms, word.end_ms, pieces)))
    return words


def _timed_words(raw: Sequence[Mapping[str, Any]], seg_start: int, seg_end: int, speaker: str | None) -> list[Word]:
    """Words of one segment, filling in the times alignment could not give."""
    texts = [str(w["word"]).strip() for w in raw]
    timed = [w.get("start") is not None and w.get("end") is not None for w in raw]
    spans: list[tuple[int, int]] = [(0, 0)] * len(raw)
    i = 0
    while i < len(raw):
        if timed[i]:
            start = to_ms(raw[i]["start"])
            spans[i] = (start, max(start, to_ms(raw[i]["end"])))
            i += 1
            continue
        j = i
        while j < len(raw) and not timed[j]:
            j += 1
        lo = spans[i - 1][1] if i else seg_start
        hi = to_ms(raw[j]["start"]) if j < len(raw) else seg_end
        spans[i:j] = _share(lo, max(lo, hi), texts[i:j])
        i = j
    return [Word(t, s, e, w.get("speaker") or speaker) for t, (s, e), w in zip(texts, spans, raw)]


def _share(start: int, end: int, tokens: Sequence[str]) -> list[tuple[int, int]]:
    """Split [start, end] among tokens in proportion to their length (plus one for the space)."""
    weights = [len(t) + 1 for t in tokens]
    total = sum(weights) or 1
    spans, done = [], 0
    for weight in weights:
        lo = start + (end - start) * done // total
        done += weight
        spans.append((lo, start + (end - start) * done // total))
    return spans
