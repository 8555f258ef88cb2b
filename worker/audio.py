"""Media in, 16 kHz mono float32 out, through an ffmpeg binary (the imageio-ffmpeg wheel's or the system's).

`probe()` reads what `ffmpeg -i` prints (that wheel has no ffprobe); `load_audio()` streams ffmpeg's s16le
output into one float32 array so a long recording is never held twice in memory.
"""
from __future__ import annotations

import os
import subprocess
import threading
from pathlib import Path
from typing import Callable

import numpy as np

from webapp.media_probe import MediaError, MediaInfo, ffmpeg_exe, probe

__all__ = ["SAMPLE_RATE", "MediaError", "MediaInfo", "extract_span", "ffmpeg_exe", "load_audio", "probe", "quiet_point",
           "voice_per_channel"]

SAMPLE_RATE = 16000
_CHUNK_BYTES = 1 << 20  # 1 MiB of s16le = 32 s of audio per read


def _too_long(max_duration_s: float) -> MediaError:
    minutes = max_duration_s / 60
    shown = f"{minutes:.0f}" if minutes >= 10 or minutes.is_integer() else f"{minutes:.1f}"
    return MediaError(f"the recording is longer than the maximum of {shown} minutes")


def load_audio(
    path: str | os.PathLike, *, max_duration_s: float | None = None, info: MediaInfo | None = None,
    progress: Callable[[float], None] | None = None,
    channel: int | None = None,
) -> np.ndarray:
    """Decode the first audio track to 16 kHz mono float32 in [-1, 1]: all channels mixed down, or only
    `channel` (0 = left).

    ``progress(fraction)`` is called after every chunk (32 s of audio); an exception it raises (a cancel) kills
    ffmpeg and propagates."""
    path = Path(path)
    info = info or probe(path)
    if not info.has_audio:
        raise MediaError("the file has no audio track")
    if max_duration_s is not None and info.duration is not None and info.duration > max_duration_s + 1:
        raise _too_long(max_duration_s)

    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-v", "error", "-i", str(path),
           "-map", "0:a:0", "-vn", *(["-ac", "1"] if channel is None else ["-af", f"pan=mono|c0=c{channel}"]), "-ar", str(SAMPLE_RATE), "-f", "s16le", "-"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    errors: list[bytes] = []

    def drain() -> None:  # keep ffmpeg from blocking on a full stderr pipe; keep the first 8 KiB
        size = 0
        for line in proc.stderr:
            if size < 8192:
                errors.append(line)
                size += len(line)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()

    limit = None if max_duration_s is None else int((max_duration_s + 1) * SAMPLE_RATE)
    capacity = int(((info.duration or 60) + 1) * SAMPLE_RATE)
    out = np.empty(capacity, dtype=np.float32)
    n = 0
    carry = b""
    try:
        while chunk := proc.stdout.read(_CHUNK_BYTES):
            chunk = carry + chunk
            usable = len(chunk) - len(chunk) % 2
            carry = chunk[usable:]
            samples = np.frombuffer(chunk[:usable], dtype="<i2")
            if n + len(samples) > len(out):
                out = np.resize(out, max(len(out) * 3 // 2, n + len(samples)))
            out[n:n + len(samples)] = samples
            n += len(samples)
            if limit is not None and n > limit:
                raise _too_long(max_duration_s)
            if progress is not None:
                progress(min(n / capacity, 1.0))
    except BaseException:
        proc.kill()
        raise
    finally:
        proc.stdout.close()
        rc = proc.wait()
        reader.join(timeout=5)
    if rc != 0 or n == 0:
        raise MediaError("the file is truncated or corrupt")
    audio = out[:n]
    audio *= 1.0 / 32768.0
    return audio


def _stereo_head(path: str | os.PathLike, seconds: float) -> np.ndarray | None:
    """The first `seconds` as (n, 2) float32 when the first audio track has two or more channels, else None."""
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(path), "-map", "0:a:0", "-vn", "-t", str(seconds),
           "-f", "null", "-"]
    head = subprocess.run(cmd, capture_output=True, text=True, errors="replace", check=False).stderr
    stream = next((line for line in head.splitlines() if "Audio:" in line), "")
    if not any(word in stream for word in ("stereo", "2 channels", "2.1", "quad", "5.1", "7.1")):
        return None
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-v", "error", "-i", str(path), "-map", "0:a:0", "-vn",
           "-t", str(seconds), "-af", "pan=stereo|c0=c0|c1=c1", "-ar", str(SAMPLE_RATE), "-f", "s16le", "-"]
    out = subprocess.run(cmd, capture_output=True, check=False).stdout
    pcm = np.frombuffer(out[: len(out) // 4 * 4], dtype="<i2").reshape(-1, 2)
    return pcm.astype(np.float32) / 32768.0 if len(pcm) else None


def voice_per_channel(path: str | os.PathLike, probe_s: float = 600.0, dominance_db: float = 10.0,
                      min_share: float = 0.15) -> bool:
    """True when the left and right channels carry different voices (a phone call or a two-microphone
    interview): among the loud 100 ms frames of the first `probe_s`, at least `min_share` are dominated by the
    left channel and as many by the right, by `dominance_db` or more. A mono file, or stereo with both voices
    in both channels, is False."""
    x = _stereo_head(path, probe_s)
    if x is None or len(x) < SAMPLE_RATE:
        return False
    frame = SAMPLE_RATE // 10
    n = len(x) // frame
    energy = (x[: n * frame].reshape(n, frame, 2) ** 2).mean(axis=1) + 1e-10
    db = 10 * np.log10(energy)
    loud = db.max(axis=1) > max(-50.0, np.percentile(db.max(axis=1), 95) - 30)
    if loud.sum() < 20:
        return False
    diff = db[loud, 0] - db[loud, 1]
    return bool((diff >= dominance_db).mean() >= min_share and (diff <= -dominance_db).mean() >= min_share)


# --- spans of a long recording (issue 11) -----------------------------------------------------------------------
# ``source`` is a local path or an http(s) URL (a presigned GET): with ``-ss`` before ``-i`` ffmpeg seeks in the
# input (HTTP range requests for a URL), so only the span is read and decoded, whatever the recording's length.


def extract_span(source: str, start: float, length: float, dest: str | os.PathLike,
                 progress: Callable[[float], None] | None = None) -> Path:
    """Write ``length`` seconds from ``start`` of ``source`` to ``dest`` as 16 kHz mono WAV.

    ``progress(fraction)`` runs about twice a second while ffmpeg works; an exception it raises kills ffmpeg."""
    dest = Path(dest)
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-v", "error", "-y", "-ss", f"{start:.3f}", "-t",
           f"{length:.3f}", "-i", str(source), "-map", "0:a:0", "-vn", "-ac", "1", "-ar", str(SAMPLE_RATE),
           "-c:a", "pcm_s16le", str(dest)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        while True:
            try:
                _, err = proc.communicate(timeout=0.5)
                break
            except subprocess.TimeoutExpired:
                if progress is not None:
                    done = max(0, dest.stat().st_size - 44) / 2 / SAMPLE_RATE if dest.exists() else 0.0
                    progress(min(done / max(length, 1e-6), 1.0))
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    if proc.returncode != 0 or not dest.exists() or dest.stat().st_size <= 44:
        raise MediaError(f"could not read {length:.0f} s from {start:.0f} s of the recording: "
                         f"{err.decode(errors='replace').strip()[:200] or 'no audio there'}")
    return dest


QUIET_RATE = 8000  # a cheap low-rate decode is plenty to find the pauses between words
QUIET_WINDOWS_S = (0.6, 0.1)  # a cut goes in the middle of the quietest long stretch, at its quietest instant


def quiet_point(source: str, around: float, reach: float) -> float:
    """A point in a pause within ``reach`` seconds of ``around``: where the sum of the levels over the
    QUIET_WINDOWS_S centred there is lowest (an energy VAD over an 8 kHz decode of that window only), slightly
    preferring points near ``around``. The long window favours the pauses between sentences over those between
    words, the short one the quietest instant inside it; a cut there never falls inside a word."""
    lo = max(0.0, around - reach)
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-v", "error", "-ss", f"{lo:.3f}", "-t", f"{2 * reach:.3f}",
           "-i", str(source), "-map", "0:a:0", "-vn", "-ac", "1", "-ar", str(QUIET_RATE), "-f", "s16le", "-"]
    out = subprocess.run(cmd, capture_output=True, check=False).stdout
    x = np.frombuffer(out[:len(out) - len(out) % 2], dtype="<i2").astype(np.float32)
    hop = QUIET_RATE // 100  # 10 ms frames
    if len(x) < hop * 100:
        return around
    frames = (x[:len(x) // hop * hop].reshape(-1, hop) ** 2).mean(axis=1)
    score = np.zeros(len(frames))
    for seconds in QUIET_WINDOWS_S:
        width = max(1, int(seconds * 100))
        score += 10 * np.log10(np.convolve(frames, np.ones(width) / width, mode="same") + 1e-3)
    edge = int(max(QUIET_WINDOWS_S) * 50)  # where the long window would reach past the decoded audio
    centres = lo + (np.arange(len(frames)) + 0.5) * 0.01
    score += np.abs(centres - around) / 10.0  # 1 dB per 10 s away: among equal pauses, the nearest wins
    best = edge + int(np.argmin(score[edge:len(score) - edge]))
    return float(round(centres[best], 3))
