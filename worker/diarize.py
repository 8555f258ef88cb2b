"""Who spoke when: pyannote (via WhisperX) where the user has its pipeline, else the offline GE2E diarizer.

The offline path (worker.embedding + worker.clustering): webrtcvad marks speech regions; Resemblyzer's GE2E
encoder embeds 1.6 s windows every 0.4 s inside them, in bounded batches; NME-SC estimates the number of speakers
(or honours the one given) and clusters, through over-clustered group centroids on long recordings; each window
labels the stretch of its region nearest to it. Short flips between two turns of one speaker are smoothed away.
Speakers then go onto words by largest overlap (`whisperx.assign_word_speakers`); segments split where the
speaker changes.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from webapp import model_registry as models
from worker.result import Options, TranscriptResult

log = logging.getLogger(__name__)
SAMPLE_RATE = 16000
MIN_TURN_S = 1.0  # a turn shorter than this between two turns of the same speaker is that speaker's
PYANNOTE_MODEL = "pyannote/speaker-diarization-community-1"
OFFLINE = "ge2e-nmesc"
_CACHE: dict[str, Any] = {}


@dataclass
class Diarization:
    turns: list[tuple[float, float, int]]  # (start, end, speaker index) in time order
    method: str
    estimated: int | None  # speakers found (None: not known, e.g. nothing said)
    count_given: bool
    vectors: int = 0  # embeddings computed
    representatives: int = 0  # rows the spectral clustering saw
    max_batch: int = 0  # most windows in one encoder call
    extra: dict[str, Any] = field(default_factory=dict)


def _pyannote_available(model_path: str | os.PathLike | None = None) -> bool:
    """True when a local pipeline folder is given, HF_TOKEN is set, or pyannote's config is in the HF cache."""
    models.offline()
    if model_path and (Path(model_path) / "config.yaml").is_file():
        return True
    if os.environ.get("HF_TOKEN"):
        return True
    try:
        from huggingface_hub import try_to_load_from_cache

        return isinstance(try_to_load_from_cache(PYANNOTE_MODEL, "config.yaml"), str)
    except Exception:
        return False


def encoder(device: str = "cpu") -> Any:
    """The GE2E encoder, loaded once per process."""
    key = f"encoder:{device}"
    if key not in _CACHE:
        from resemblyzer import VoiceEncoder

        _CACHE[key] = VoiceEncoder(device=device, verbose=False)
    return _CACHE[key]


def smooth(turns: list[tuple[float, float, int]], min_turn: float = MIN_TURN_S) -> list[tuple[float, float, int]]:
    """Merge adjacent turns of one speaker (across silences) and give a short turn sandwiched between two turns of
    the same speaker to that speaker; a short turn between two different speakers stays."""
    out = list(turns)
    changed = True
    while changed:
        changed = False
        for i in range(1, len(out) - 1):
            prev, cur, nxt = out[i - 1], out[i], out[i + 1]
            if prev[2] == nxt[2] != cur[2] and cur[1] - cur[0] < min_turn:
                out[i] = (cur[0], cur[1], prev[2])
                changed = True
        merged: list[tuple[float, float, int]] = []
        for t in out:
            if merged and merged[-1][2] == t[2] and t[0] - merged[-1][1] < 2.0:
                merged[-1] = (merged[-1][0], max(merged[-1][1], t[1]), t[2])
            else:
                merged.append(t)
        out = merged
    return out


def embed(wav: np.ndarray, device: str = "cpu") -> Any:
    """The recording's speech windows and their GE2E embeddings (worker.embedding.Windows), or None if too short."""
    from worker.embedding import embed_regions, speech_regions

    if len(wav) < SAMPLE_RATE // 2:
        return None
    return embed_regions(encoder(device), wav, speech_regions(wav))


def offline_diarization(wav: np.ndarray | None, options: Options, device: str = "cpu",
                        windows: Any = None) -> Diarization:
    """Speech turns from GE2E window embeddings clustered by NME-SC (`windows`: already embedded)."""
    from scipy.ndimage import median_filter

    from worker.clustering import cluster
    from worker.embedding import STEP, WINDOW

    given = bool(options.num_speakers)
    if windows is None:
        windows = embed(wav, device)
    if windows is None:
        return Diarization([], OFFLINE, None, given)
    n = len(windows.embeddings)
    if n == 0:
        return Diarization([], OFFLINE, None, given)
    result = cluster(windows.embeddings, options.num_speakers, options.min_speakers, options.max_speakers,
                     overlap=2 * (WINDOW // STEP - 1))
    labels = result.labels
    turns: list[tuple[float, float, int]] = []
    for r, (start, end) in enumerate(windows.regions):
        idx = np.flatnonzero(windows.region_of == r)
        if not len(idx):
            continue
        labs = median_filter(labels[idx], size=3, mode="nearest") if len(idx) >= 3 else labels[idx]
        cs = windows.centres[idx]
        cuts = [start, *((cs[:-1] + cs[1:]) / 2), end]
        for a, b, lab in zip(cuts[:-1], cuts[1:], labs):
            if b <= a:
                continue
            if turns and turns[-1][2] == lab and a - turns[-1][1] < 1e-6:
                turns[-1] = (turns[-1][0], float(b), int(lab))
            else:
                turns.append((float(a), float(b), int(lab)))
    turns = smooth(turns)
    found = len({t[2] for t in turns})
    return Diarization(turns, OFFLINE, found, given, vectors=n, representatives=result.representatives,
                       max_batch=windows.max_batch)


def resemblyzer_turns(wav: np.ndarray, options: Options, device: str = "cpu") -> list[tuple[float, float, int]]:
    """(start, end, speaker) turns of the offline diarizer; times in seconds."""
    return offline_diarization(wav, options, device).turns


def _pyannote(wav: np.ndarray, options: Options, device: str, model_path: str | os.PathLike | None) -> Diarization:
    """WhisperX's pyannote pipeline, from a local folder when given, else the hub with HF_TOKEN."""
    import whisperx.diarize

    source = str(model_path) if model_path and Path(model_path).is_dir() else PYANNOTE_MODEL
    key = f"pyannote:{source}:{device}"
    if key not in _CACHE:
        _CACHE[key] = whisperx.diarize.DiarizationPipeline(
            model_name=source, token=os.environ.get("HF_TOKEN"), device=device)
    df = _CACHE[key](wav, num_speakers=options.num_speakers,
                     min_speakers=options.min_speakers, max_speakers=options.max_speakers)
    labels = list(dict.fromkeys(df["speaker"])) if len(df) else []
    turns = [(float(r.start), float(r.end), labels.index(r.speaker)) for r in df.itertuples()]
    return Diarization(turns, "pyannote", len(labels) or None, bool(options.num_speakers))


def run_diarization(wav: np.ndarray, options: Options, device: str = "cpu",
                    model_path: str | os.PathLike | None = None) -> Diarization:
    """pyannote where the user has it (a local pipeline folder, HF_TOKEN or the HF cache), else the offline one."""
    if _pyannote_available(model_path):
        try:
            return _pyannote(wav, options, device, model_path)
        except Exception as exc:  # model unreachable or unreadable: fall back rather than fail the job
            log.warning("pyannote diarization unavailable (%s); using the offline diarizer", exc)
    return offline_diarization(wav, options, device)


def diarization_frame(wav: np.ndarray, options: Options, device: str = "cpu",
                      model_path: str | os.PathLike | None = None) -> tuple[Any, Diarization]:
    """A DataFrame (start, end, speaker) for the audio, and the Diarization that made it."""
    import pandas as pd

    d = run_diarization(wav, options, device, model_path)
    df = pd.DataFrame([(s, e, f"SPEAKER_{k:02d}") for s, e, k in d.turns], columns=["start", "end", "speaker"])
    return df, d


def diarize(result: TranscriptResult, wav: np.ndarray, options: Options, device: str = "cpu",
            progress: Callable[[float], None] | None = None,
            model_path: str | os.PathLike | None = None) -> TranscriptResult:
    """Label every word and segment of `result` with a speaker, in place; sets diarization, speakers and the
    speaker count (and whether it was given)."""
    from worker.speakers import apply_speakers

    if not any(seg.words or seg.text for seg in result.segments):  # nothing was said: nobody to name
        result.speakers = []
        return result
    df, d = diarization_frame(wav, options, device, model_path)
    if progress:
        progress(0.8)
    apply_speakers(result, df)
    result.diarization = d.method
    result.speaker_count = len(result.speakers) or d.estimated
    result.speaker_count_given = d.count_given
    return result
