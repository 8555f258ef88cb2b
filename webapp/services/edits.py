"""Corrections a person makes to a finished transcript: title, speaker names, a segment's speaker, its text.

Every edit lands in the same rows the exports and search read (segments.text feeds the generated tsvector,
words feed the subtitle cues), so an edit shows up everywhere at once.
"""
from __future__ import annotations

import difflib
import re

from flask_babel import gettext as _
from sqlalchemy import select

from webapp.errors import Invalid
from webapp.extensions import db
from webapp.models import Segment, Speaker, Transcript, Word

_NORM_RE = re.compile(r"[^\w']+")


class EditError(Invalid):
    """The edit cannot be applied (400); the message says why."""


def set_title(t: Transcript, title: str) -> None:
    title = " ".join((title or "").split())
    if not title:
        raise EditError(_("a title cannot be empty"))
    t.title = title[:255]
    db.session.commit()


def rename_speaker(t: Transcript, label: str, name: str) -> Speaker:
    """Give speaker ``label`` a name for the whole transcript (an empty name goes back to the label)."""
    speaker = next((s for s in t.speakers if s.label == label), None)
    if speaker is None:
        raise EditError(_("there is no speaker %(label)r in this transcript", label=label))
    name = " ".join((name or "").split())[:120]
    speaker.display_name = name or None
    db.session.commit()
    return speaker


def new_speaker_label(t: Transcript) -> str:
    """The next free ``SPEAKER_NN`` label."""
    taken = {s.label for s in t.speakers}
    n = 0
    while f"SPEAKER_{n:02d}" in taken:
        n += 1
    return f"SPEAKER_{n:02d}"


def reassign_segment(t: Transcript, seg: Segment, label: str | None, new_name: str | None = None) -> None:
    """Move one segment (and its words) to another speaker; ``label`` "new" creates a speaker."""
    if label == "new":
        label = new_speaker_label(t)
        t.speakers.append(Speaker(label=label, display_name=" ".join((new_name or "").split())[:120] or None))
    elif label and label not in {s.label for s in t.speakers}:
        raise EditError(_("there is no speaker %(label)r in this transcript", label=label))
    seg.speaker = label or None
    for w in seg.words:
        w.speaker = seg.speaker
    db.session.commit()


def _norm(token: str) -> str:
    return _NORM_RE.sub("", token.lower())


def retime_words(old: list[Word], tokens: list[str], seg_start: float, seg_end: float) -> list[dict]:
    """New word rows for ``tokens``: words that still match keep their timings; changed ones share the time
    of the words they replace (or the gap they were inserted into)."""
    matcher = difflib.SequenceMatcher(a=[_norm(w.word) for w in old], b=[_norm(x) for x in tokens],
                                      autojunk=False)
    out: list[dict] = []
    for op, a0, a1, b0, b1 in matcher.get_opcodes():
        if op == "equal":
            for w, tok in zip(old[a0:a1], tokens[b0:b1]):
                out.append({"word": tok, "start": w.start, "end": w.end, "score": w.score})
        elif op in ("replace", "insert"):
            if a1 > a0:
                lo, hi = old[a0].start, old[a1 - 1].end
            else:
                lo = old[a0 - 1].end if a0 else seg_start
                hi = old[a0].start if a0 < len(old) else seg_end
            hi = max(lo, hi)
            n = b1 - b0
            for k, tok in enumerate(tokens[b0:b1]):
                # A person typed this word: it is right by definition, so it is not marked as uncertain.
                out.append({"word": tok, "start": lo + (hi - lo) * k / n, "end": lo + (hi - lo) * (k + 1) / n,
                            "score": None})
    return out


def edit_segment_text(t: Transcript, seg: Segment, text: str) -> bool:
    """Replace a segment's text; returns False when nothing changed."""
    tokens = (text or "").split()
    if not tokens:
        raise EditError(_("a segment cannot be empty; reassign or leave it instead"))
    new_text = " ".join(tokens)
    if new_text == seg.text.strip():
        return False
    old = list(seg.words)
    rows = retime_words(old, tokens, seg.start, seg.end)
    for w in old:
        db.session.delete(w)
    db.session.flush()
    for i, row in enumerate(rows):
        db.session.add(Word(segment_id=seg.id, transcript_id=t.id, idx=i, speaker=seg.speaker, **row))
    seg.text = new_text
    db.session.commit()
    db.session.expire(seg, ["words", "tsv"])
    return True


def segment_of(t: Transcript, segment_id: int) -> Segment | None:
    return db.session.scalar(select(Segment).where(Segment.id == segment_id, Segment.transcript_id == t.id))
