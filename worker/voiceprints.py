"""Voiceprints: one unit-length GE2E (Resemblyzer) embedding per speaker of a result.

A pure function of (samples, result): no database, queue or web. The parts of a long recording use it so the
merge can tell that SPEAKER_01 of hour 1 and SPEAKER_00 of hour 9 are one person; enrolled voice profiles can
compare against the same vectors.
"""
from __future__ import annotations

import threading
from typing import Any

import numpy as np

from worker.result import TranscriptResult

SAMPLE_RATE = 16000
MIN_SPAN_S = 1.0  # shorter stretches say little about a voice
MAX_PER_SPEAKER_S = 120.0  # enough speech for a stable mean; bounds the cost for a speaker who talks for hours
_ENCODER: dict[str, Any] = {}
_LOCK = threading.Lock()


def encoder(device: str = "cpu") -> Any:
    """The process's one Resemblyzer VoiceEncoder (17 MB, loads offline), per device."""
    with _LOCK:
        if device not in _ENCODER:
            from resemblyzer import VoiceEncoder

            _ENCODER[device] = VoiceEncoder(device=device, verbose=False)
        return _ENCODER[device]


def embed(samples: np.ndarray, device: str = "cpu") -> np.ndarray:
    """The unit-length GE2E embedding of a stretch of 16 kHz speech."""
    from resemblyzer import preprocess_wav

    wav = preprocess_wav(np.asarray(samples, dtype=np.float32), source_sr=SAMPLE_RATE)
    if len(wav) < SAMPLE_RATE * 0.5:  # preprocessing trimmed the silence and left (almost) nothing
        wav = np.asarray(samples, dtype=np.float32)
    vec = encoder(device).embed_utterance(wav)
    return vec / (np.linalg.norm(vec) or 1.0)


def speaker_embeddings(samples: np.ndarray, result: TranscriptResult, *, offset: float = 0.0,
                       device: str = "cpu") -> dict[str, list[float]]:
    """{speaker label: unit-norm mean embedding of that speaker's segments} for every labelled speaker.

    ``offset``: the time of ``samples[0]`` on the result's clock (a part's start). Segments shorter than
    MIN_SPAN_S are used only when a speaker has nothing longer; at most MAX_PER_SPEAKER_S per speaker, longest
    segments first."""
    spans: dict[str, list[tuple[int, int]]] = {}
    for seg in result.segments:
        if not seg.speaker:
            continue
        a = max(0, int((seg.start - offset) * SAMPLE_RATE))
        b = min(len(samples), int((seg.end - offset) * SAMPLE_RATE))
        if b > a:
            spans.setdefault(seg.speaker, []).append((a, b))
    out: dict[str, list[float]] = {}
    for label, found in spans.items():
        found.sort(key=lambda ab: ab[0] - ab[1])  # longest first
        long = [ab for ab in found if ab[1] - ab[0] >= MIN_SPAN_S * SAMPLE_RATE] or found[:3]
        vecs, weights, total = [], [], 0
        for a, b in long:
            if total >= MAX_PER_SPEAKER_S * SAMPLE_RATE:
                break
            vecs.append(embed(samples[a:b], device))
            weights.append(b - a)
            total += b - a
        mean = np.average(np.stack(vecs), axis=0, weights=weights)
        out[label] = (mean / (np.linalg.norm(mean) or 1.0)).astype(float).tolist()
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
