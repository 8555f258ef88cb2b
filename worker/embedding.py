"""Speaker embeddings of what is said: GE2E (Resemblyzer) vectors of 1.6 s windows inside speech regions only,
computed block by block in bounded batches, so vectors and memory grow gently with the recording's length.

Nothing here copies the whole recording: the VAD, the loudness and the mel spectrogram all walk it in blocks.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

SAMPLE_RATE = 16000
FRAME_MS = 30  # webrtcvad frame
WINDOW = 160  # mel frames (10 ms each) per GE2E window: Resemblyzer's partial utterance, 1.6 s
STEP = 40  # mel frames between window starts inside a speech region: 0.4 s (measured: 0.8 s lost pyannote's sample, DER 0.47)
MIN_REGION_S = 0.4  # shorter speech runs are not embedded (they take the speaker of the turn around them)
BATCH = 128  # windows per encoder call
BLOCK_S = 60.0  # audio per VAD / mel block
TARGET_DBFS = -30.0  # Resemblyzer's loudness target (its normalize_volume, increase only)


@dataclass
class Windows:
    embeddings: np.ndarray  # (n, 256) float32, unit length, time order
    centres: np.ndarray  # (n,) seconds
    regions: list[tuple[float, float]]  # speech regions (seconds) the windows lie in
    region_of: np.ndarray  # (n,) index into regions
    batches: int  # encoder calls made
    max_batch: int  # most windows in one call


def _blocks(n: int, size: int) -> Iterator[tuple[int, int]]:
    for a in range(0, n, size):
        yield a, min(n, a + size)


def loudness_gain(wav: np.ndarray) -> float:
    """The gain that brings the recording to TARGET_DBFS (never below 1), measured block by block."""
    total, block = 0.0, int(BLOCK_S * SAMPLE_RATE)
    for a, b in _blocks(len(wav), block):
        x = wav[a:b].astype(np.float64)
        total += float(np.dot(x, x))
    rms = np.sqrt(total / max(1, len(wav)))
    if rms <= 0:
        return 1.0
    return float(max(1.0, 10 ** ((TARGET_DBFS - 20 * np.log10(rms)) / 20)))


def speech_regions(wav: np.ndarray, aggressiveness: int = 2, close_s: float = 0.3) -> list[tuple[float, float]]:
    """(start, end) seconds of speech by webrtcvad, gaps up to close_s closed, computed in blocks."""
    import webrtcvad

    vad = webrtcvad.Vad(aggressiveness)
    n = SAMPLE_RATE * FRAME_MS // 1000
    frames_per_block = int(BLOCK_S * 1000 // FRAME_MS)
    mask = np.zeros(len(wav) // n, dtype=bool)
    for fa, fb in _blocks(len(mask), frames_per_block):
        pcm = (np.clip(wav[fa * n:fb * n], -1, 1) * 32767).astype("<i2").tobytes()
        step = 2 * n
        for i in range(fb - fa):
            mask[fa + i] = vad.is_speech(pcm[i * step:(i + 1) * step], SAMPLE_RATE)
    frame_s = FRAME_MS / 1000
    regions: list[tuple[float, float]] = []
    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(np.int8), [0]])))
    for a, b in zip(edges[::2], edges[1::2]):
        start, end = a * frame_s, b * frame_s
        if regions and start - regions[-1][1] <= close_s:
            regions[-1] = (regions[-1][0], end)
        else:
            regions.append((start, end))
    return regions


_MEL: dict[str, np.ndarray] = {}


def _mel(wav: np.ndarray) -> np.ndarray:
    """Resemblyzer's mel spectrogram (librosa's, n_fft 400, hop 160, 40 bands, power, centred), in numpy: equal
    to `resemblyzer.audio.wav_to_mel_spectrogram` within float rounding, without librosa's first-call JIT (13 s)."""
    if not _MEL:
        import librosa

        _MEL["basis"] = librosa.filters.mel(sr=SAMPLE_RATE, n_fft=400, n_mels=40).astype(np.float32)
        _MEL["window"] = librosa.filters.get_window("hann", 400, fftbins=True).astype(np.float32)
    padded = np.pad(wav.astype(np.float32), (200, 200))
    n = 1 + (len(padded) - 400) // 160
    frames = np.lib.stride_tricks.sliding_window_view(padded, 400)[::160][:n]
    power = np.abs(np.fft.rfft(frames * _MEL["window"], axis=1)) ** 2
    return (power @ _MEL["basis"].T).astype(np.float32)


def _window_starts(n_frames: int) -> list[int]:
    """Start frames of WINDOW-frame windows covering n_frames with STEP hops; the last one ends at the end."""
    if n_frames <= WINDOW:
        return [0]
    starts = list(range(0, n_frames - WINDOW + 1, STEP))
    if starts[-1] != n_frames - WINDOW:
        starts.append(n_frames - WINDOW)
    return starts


def embed_regions(encoder: Any, wav: np.ndarray, regions: list[tuple[float, float]]) -> Windows:
    """GE2E embeddings of windows inside the regions; a region shorter than a window is embedded with the
    audio around it up to 1.6 s."""
    import torch

    gain = loudness_gain(wav)
    hop = SAMPLE_RATE // 100
    win_samples = WINDOW * hop
    duration = len(wav) / SAMPLE_RATE
    embeds: list[np.ndarray] = []
    centres: list[float] = []
    owner: list[int] = []
    kept: list[tuple[float, float]] = []
    pending: list[np.ndarray] = []
    stats = {"batches": 0, "max": 0}

    def flush() -> None:
        if not pending:
            return
        with torch.no_grad():
            out = encoder(torch.from_numpy(np.stack(pending)).to(encoder.device)).cpu().numpy()
        embeds.append(out.astype(np.float32))
        stats["batches"] += 1
        stats["max"] = max(stats["max"], len(pending))
        pending.clear()

    block_samples = int(BLOCK_S * SAMPLE_RATE)
    for start, end in regions:
        if end - start < MIN_REGION_S:
            continue
        a, b = int(start * SAMPLE_RATE), int(end * SAMPLE_RATE)
        if b - a < win_samples:  # centre a 1.6 s window on the short region
            mid = (a + b) // 2
            a = max(0, min(mid - win_samples // 2, len(wav) - win_samples))
            b = min(len(wav), a + win_samples)
        region_index = len(kept)
        kept.append((start, end))
        starts = [a + f * hop for f in _window_starts(max(1, (b - a) // hop))]
        i = 0
        while i < len(starts):  # one mel spectrogram per block of at most BLOCK_S
            j = i
            while j + 1 < len(starts) and starts[j + 1] + win_samples - starts[i] <= block_samples:
                j += 1
            mel = _mel(wav[starts[i]:starts[j] + win_samples] * gain)
            for s in starts[i:j + 1]:
                f = (s - starts[i]) // hop
                window = mel[f:f + WINDOW]
                if len(window) < WINDOW:
                    window = np.pad(window, ((0, WINDOW - len(window)), (0, 0)))
                pending.append(window)
                centres.append(min(duration, (s + win_samples / 2) / SAMPLE_RATE))
                owner.append(region_index)
                if len(pending) >= BATCH:
                    flush()
            i = j + 1
    flush()
    emb = np.concatenate(embeds) if embeds else np.zeros((0, 256), dtype=np.float32)
    return Windows(emb, np.array(centres), kept, np.array(owner, dtype=int), stats["batches"], stats["max"])
