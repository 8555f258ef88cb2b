"""Word timing: optional wav2vec2 alignment (when such a model is on disk), and repair so every word is timed.

WhisperX's `align` needs a wav2vec2 CTC model; none ships on PyPI, so alignment runs only where one is cached
or named by `SCRIPTORIUM_ALIGN_MODEL` (a local folder). Otherwise faster-whisper's own word timestamps stand.
"""
from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from worker.result import Segment, Word

log = logging.getLogger(__name__)
_ALIGNERS: dict[tuple[str, str], Any] = {}  # only successful loads: (model, metadata)
_FAILED: dict[tuple[str, str], float] = {}  # when a load last failed (monotonic), so it is not retried per job
RETRY_AFTER_S = 600.0  # a model copied into the cache later is found within ten minutes, without a restart
_now = time.monotonic


def _try_load(language: str, device: str) -> Any:
    """(model, metadata) for `language` from local files only; raises when none is available."""
    import whisperx
    from whisperx.alignment import DEFAULT_ALIGN_MODELS_HF, DEFAULT_ALIGN_MODELS_TORCH

    name = os.environ.get("SCRIPTORIUM_ALIGN_MODEL") or None
    if name is None and language in DEFAULT_ALIGN_MODELS_TORCH:
        import torch
        import torchaudio

        bundle = getattr(torchaudio.pipelines, DEFAULT_ALIGN_MODELS_TORCH[language])
        cached = Path(torch.hub.get_dir()) / "checkpoints" / Path(bundle._path).name
        if not cached.is_file():  # torchaudio would download it
            raise FileNotFoundError(cached)
    elif name is None and language not in DEFAULT_ALIGN_MODELS_HF:
        raise LookupError(f"no alignment model for {language}")
    return whisperx.load_align_model(language, device, model_name=name, model_cache_only=True)


def _load_aligner(language: str, device: str) -> Any | None:
    """The cached aligner for `language`, or None when none is available. A success is kept for the life of the
    process; a failure only for RETRY_AFTER_S, so a transient error or a model installed later is picked up."""
    key = (language, device)
    if key in _ALIGNERS:
        return _ALIGNERS[key]
    failed_at = _FAILED.get(key)
    if failed_at is not None and _now() - failed_at < RETRY_AFTER_S:
        return None
    try:
        aligner = _try_load(language, device)
    except Exception as exc:  # offline and uncached is the normal case here, not an error
        log.info("no local alignment model for %s (%s); using whisper word timestamps", language, exc)
        _FAILED[key] = _now()
        return None
    _FAILED.pop(key, None)
    _ALIGNERS[key] = aligner
    return aligner


def align(segments: list[Segment], audio: np.ndarray, language: str, device: str) -> tuple[list[Segment], str]:
    """Refine word times with wav2vec2 when available; returns (segments, "align" | "whisper")."""
    aligner = _load_aligner(language, device) if segments else None
    if aligner is None:
        return segments, "whisper"
    import whisperx

    try:
        out = whisperx.align([{"start": s.start, "end": s.end, "text": s.text} for s in segments],
                             aligner[0], aligner[1], audio, device)
    except Exception as exc:  # e.g. nltk punkt data missing offline
        log.warning("alignment failed (%s); using whisper word timestamps", exc)
        return segments, "whisper"
    aligned = [
        Segment(start=s["start"], end=s["end"], text=s["text"].strip(),
                words=[Word(w["word"], w.get("start"), w.get("end"), w.get("score")) for w in s.get("words", [])])
        for s in out["segments"]
    ]
    return aligned, "align"


def repair(segments: list[Segment], duration: float) -> list[Segment]:
    """Give every word a start, end and score; make times monotonic and keep them inside [0, duration]."""
    prev_end = 0.0
    for seg in segments:
        lo = min(max(seg.start or prev_end, prev_end), duration)
        hi = min(max(seg.end or lo, lo), duration)
        _interpolate(seg.words, lo, hi)
        for w in seg.words:
            w.start = min(max(w.start, prev_end), duration)
            w.end = min(max(w.end, w.start), duration)
            w.score = 0.0 if w.score is None else float(w.score)
            prev_end = w.end
        if seg.words:
            seg.start, seg.end = seg.words[0].start, seg.words[-1].end
        else:
            seg.start, seg.end = lo, hi
            prev_end = hi
    return segments


def _interpolate(words: list[Word], lo: float, hi: float) -> None:
    """Fill missing times by spreading each run of untimed words evenly between its timed neighbours."""
    i = 0
    while i < len(words):
        if words[i].start is not None and words[i].end is not None:
            i += 1
            continue
        j = i
        while j < len(words) and (words[j].start is None or words[j].end is None):
            j += 1
        left = words[i - 1].end if i > 0 else lo
        right = words[j].start if j < len(words) else hi
        if words[i].start is not None:
            left = words[i].start
        right = max(right, left)
        step = (right - left) / (j - i)
        for k in range(i, j):
            words[k].start = left + step * (k - i) if words[k].start is None else words[k].start
            words[k].end = left + step * (k - i + 1) if words[k].end is None else words[k].end
        i = j
