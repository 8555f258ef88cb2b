"""A voiceprint per speaker of a diarized transcript: pure (samples + result in, vectors out), no DB.

Each speaker's words (or segments, where words have no speaker) are cut from the 16 kHz samples, joined, and
embedded with Resemblyzer's GE2E encoder (the one the offline diarization uses): the unit-norm mean of its
1.6 s partial embeddings. Stored with every diarized transcript, so naming a speaker later needs no re-decoding.
"""
from __future__ import annotations

import threading
from typing import Any

import numpy as np

SAMPLE_RATE = 16000
MIN_SPEECH_S = 1.0  # less speech than this gives no voiceprint (too little to say whose voice it is)
PAD_S = 0.05
_ENCODER: Any = None
_LOCK = threading.Lock()


def encoder() -> Any:
    """One Resemblyzer VoiceEncoder per process (17 MB, loads offline)."""
    global _ENCODER
    with _LOCK:
        if _ENCODER is None:
            from resemblyzer import VoiceEncoder

            _ENCODER = VoiceEncoder("cpu", verbose=False)
        return _ENCODER


def speaker_spans(result: Any) -> dict[str, list[tuple[float, float]]]:
    """(start, end) seconds of each speaker's words; a segment's own span where its words carry no speaker."""
    spans: dict[str, list[tuple[float, float]]] = {}
    for seg in result.segments:
        worded = [w for w in seg.words if w.speaker]
        if worded:
            for w in worded:
                spans.setdefault(w.speaker, []).append((w.start, w.end))
        elif seg.speaker:
            spans.setdefault(seg.speaker, []).append((seg.start, seg.end))
    return spans


def embed(wav: np.ndarray) -> list[float] | None:
    """The unit-norm GE2E embedding of one stretch of speech, or None when it is too short."""
    if len(wav) < MIN_SPEECH_S * SAMPLE_RATE:
        return None
    vec = np.asarray(encoder().embed_utterance(wav.astype(np.float32)), dtype=np.float64)
    norm = np.linalg.norm(vec)
    return [float(x) for x in vec / norm] if norm > 0 else None


def speaker_embeddings(samples: np.ndarray, result: Any) -> dict[str, list[float]]:
    """{label: unit-norm embedding} for each speaker with at least MIN_SPEECH_S of speech in ``result``."""
    out: dict[str, list[float]] = {}
    n = len(samples)
    for label, spans in speaker_spans(result).items():
        pieces = []
        for start, end in sorted(spans):
            a, b = max(0, int((start - PAD_S) * SAMPLE_RATE)), min(n, int((end + PAD_S) * SAMPLE_RATE))
            if b > a:
                pieces.append(samples[a:b])
        if pieces:
            vec = embed(np.concatenate(pieces))
            if vec is not None:
                out[label] = vec
    return out
