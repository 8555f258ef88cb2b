"""Word timing: optional wav2vec2 alignment (when such a model is on disk), and repair so every word is timed.

WhisperX's `align` needs a wav2vec2 CTC model per language; none ships on PyPI, so alignment runs only where one
is cached or named by the `align_model` setting (`SCRIPTORIUM_ALIGN_MODEL`, a local folder). Otherwise
faster-whisper's own word timestamps stand. A transcript in several languages aligns each language's segments
with that language's model; a language without one keeps Whisper's times, and no job fails for want of one.
"""
from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from worker.result import Segment, Word

log = logging.getLogger(__name__)
_ALIGNERS: dict[tuple[str, str, str | None], Any] = {}  # only successful loads: (model, metadata)
_FAILED: dict[tuple[str, str, str | None], float] = {}  # when a load last failed (monotonic), so it is not retried per job
RETRY_AFTER_S = 600.0  # a model copied into the cache later is found within ten minutes, without a restart
_now = time.monotonic


def aligner_name(setting: str | None, language: str) -> str | None:
    """The aligner the setting names for ``language``: ``SCRIPTORIUM_ALIGN_MODEL`` is either one model (a folder or
    hub id, used for every language, as before) or per language, ``de=/models/w2v-de,en=/models/w2v-en`` (a language
    not listed gets WhisperX's default for it, where that is cached)."""
    setting = (setting or "").strip()
    if not setting:
        return None
    if "=" not in setting:
        return setting
    pairs = dict(part.split("=", 1) for part in setting.split(",") if "=" in part)
    return {k.strip(): v.strip() for k, v in pairs.items()}.get(language) or None


def _try_load(language: str, device: str, name: str | None = None) -> Any:
    """(model, metadata) for `language` from local files only; raises when none is available. ``name``: the
    configured aligner (a folder or hub id), else WhisperX's default for the language."""
    import whisperx
    from whisperx.alignment import DEFAULT_ALIGN_MODELS_HF, DEFAULT_ALIGN_MODELS_TORCH

    name = name or None
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


def _load_aligner(language: str, device: str, name: str | None = None) -> Any | None:
    """The cached aligner for `language`, or None when none is available. A success is kept for the life of the
    process; a failure only for RETRY_AFTER_S, so a transient error or a model installed later is picked up."""
    key = (language, device, name or None)
    if key in _ALIGNERS:
        return _ALIGNERS[key]
    failed_at = _FAILED.get(key)
    if failed_at is not None and _now() - failed_at < RETRY_AFTER_S:
        return None
    try:
        aligner = _try_load(language, device, name)
    except Exception as exc:  # offline and uncached is the normal case here, not an error
        log.info("no local alignment model for %s (%s); using whisper word timestamps", language, exc)
        _FAILED[key] = _now()
        return None
    _FAILED.pop(key, None)
    _ALIGNERS[key] = aligner
    return aligner


def align(segments: list[Segment], audio: np.ndarray, language: str, device: str,
          model_name: str | None = None) -> tuple[list[Segment], str]:
    """Refine word times with wav2vec2 where a model for the segment's language is available.

    Segments are grouped by their own language (``language``, the transcript's, for those without one); each group
    is aligned with its language's model or keeps Whisper's times. Returns (segments, "align" when every segment
    was aligned, else "whisper"). ``model_name``: the configured aligner (Settings.align_model), if any."""
    groups: dict[str, list[int]] = {}
    for i, seg in enumerate(segments):
        groups.setdefault(seg.language or language, []).append(i)
    out = list(segments)
    aligned_all = bool(segments)
    for lang, idxs in groups.items():
        done = _align_one([segments[i] for i in idxs], audio, lang, device, aligner_name(model_name, lang))
        if done is None:
            aligned_all = False
            continue
        for i, seg in zip(idxs, done):
            out[i] = seg
    return out, "align" if aligned_all else "whisper"


def _align_one(segments: list[Segment], audio: np.ndarray, language: str, device: str,
               model_name: str | None) -> list[Segment] | None:
    """``segments`` (one language) with wav2vec2 word times, or None when that language has no aligner here."""
    aligner = _load_aligner(language, device, model_name) if segments else None
    if aligner is None:
        return None
    import whisperx

    try:
        out = whisperx.align([{"start": s.start, "end": s.end, "text": s.text} for s in segments],
                             aligner[0], aligner[1], audio, device)
    except Exception as exc:  # e.g. nltk punkt data missing offline
        log.warning("alignment failed for %s (%s); using whisper word timestamps", language, exc)
        return None
    if len(out["segments"]) != len(segments):  # WhisperX re-split them: keep ours, so each keeps its language
        log.warning("alignment changed the segmentation for %s; using whisper word timestamps", language)
        return None
    return [
        Segment(start=a["start"], end=a["end"], text=a["text"].strip(), speaker=s.speaker, language=s.language,
                language_probability=s.language_probability,
                words=[Word(w["word"], w.get("start"), w.get("end"), w.get("score")) for w in a.get("words", [])])
        for s, a in zip(segments, out["segments"])
    ]


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
