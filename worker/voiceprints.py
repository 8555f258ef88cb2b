"""A voiceprint per speaker of a diarized transcript: pure (samples + result in, vectors out), no DB.

Each speaker's words (or segments, where words have no speaker) are cut from the 16 kHz samples, joined, and
embedded with Resemblyzer's GE2E encoder (the one the offline diarization uses): the unit-norm mean of its
1.6 s partial embeddings. Stored with every diarized transcript, so naming a speaker later needs no re-decoding
(voice profiles, issue 10), and compared across the parts of a long recording so that SPEAKER_01 of hour 1 and
SPEAKER_00 of hour 9 are one person (issue 11, ``cluster``).
"""
from __future__ import annotations

import threading
from typing import Any

import numpy as np

SAMPLE_RATE = 16000
MIN_SPEECH_S = 1.0  # less speech than this gives no voiceprint (too little to say whose voice it is)
PAD_S = 0.05
MAX_PER_SPEAKER_S = 120.0  # enough speech for a stable print; bounds the cost for a speaker who talks for hours
_ENCODER: dict[str, Any] = {}
_LOCK = threading.Lock()


def encoder(device: str = "cpu") -> Any:
    """One Resemblyzer VoiceEncoder per process and device (17 MB, loads offline)."""
    with _LOCK:
        if device not in _ENCODER:
            from resemblyzer import VoiceEncoder

            _ENCODER[device] = VoiceEncoder(device, verbose=False)
        return _ENCODER[device]


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


def embed(wav: np.ndarray, device: str = "cpu") -> list[float] | None:
    """The unit-norm GE2E embedding of one stretch of speech, or None when it is too short."""
    if len(wav) < MIN_SPEECH_S * SAMPLE_RATE:
        return None
    vec = np.asarray(encoder(device).embed_utterance(wav.astype(np.float32)), dtype=np.float64)
    norm = np.linalg.norm(vec)
    return [float(x) for x in vec / norm] if norm > 0 else None


def speaker_embeddings(samples: np.ndarray, result: Any, *, offset: float = 0.0,
                       device: str = "cpu") -> dict[str, list[float]]:
    """{label: unit-norm embedding} for each speaker with at least MIN_SPEECH_S of speech in ``result``.

    ``offset``: the time of ``samples[0]`` on the result's clock (a part's start in a long recording). At most
    MAX_PER_SPEAKER_S of each speaker's speech is embedded."""
    out: dict[str, list[float]] = {}
    n = len(samples)
    for label, spans in speaker_spans(result).items():
        pieces, total = [], 0
        for start, end in sorted(spans):
            a = max(0, int((start - offset - PAD_S) * SAMPLE_RATE))
            b = min(n, int((end - offset + PAD_S) * SAMPLE_RATE))
            if b > a and total < MAX_PER_SPEAKER_S * SAMPLE_RATE:
                pieces.append(samples[a:b])
                total += b - a
        if pieces:
            vec = embed(np.concatenate(pieces), device)
            if vec is not None:
                out[label] = vec
    return out


def cluster(vectors: list[list[float]], *, num_speakers: int | None = None, threshold: float = 0.3) -> list[int]:
    """Group voiceprints into people: agglomerative, average linkage on cosine distance, cut at ``threshold``
    (or into exactly ``num_speakers``). Returns a cluster number per vector, numbered by first appearance."""
    if not vectors:
        return []
    if len(vectors) == 1:
        return [0]
    from sklearn.cluster import AgglomerativeClustering

    x = np.asarray(vectors, dtype=np.float64)
    if num_speakers:
        model = AgglomerativeClustering(n_clusters=min(num_speakers, len(x)), metric="cosine", linkage="average")
    else:
        model = AgglomerativeClustering(n_clusters=None, distance_threshold=threshold, metric="cosine",
                                        linkage="average")
    raw = model.fit(x).labels_
    order: dict[int, int] = {}
    return [order.setdefault(int(c), len(order)) for c in raw]
