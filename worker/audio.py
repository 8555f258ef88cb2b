"""Media in, 16 kHz mono float32 out, through an ffmpeg binary (the imageio-ffmpeg wheel's or the system's).

`probe()` reads what `ffmpeg -i` prints (that wheel has no ffprobe); `load_audio()` streams ffmpeg's s16le
output into one float32 array so a long recording is never held twice in memory.
"""
from __future__ import annotations

import os
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Callable

import numpy as np

from webapp.media_probe import MediaError, MediaInfo, ffmpeg_exe, probe

__all__ = ["SAMPLE_RATE", "MediaError", "MediaInfo", "extract_span", "ffmpeg_exe", "load_audio", "probe",
           "speech_from_probabilities", "speech_probabilities", "voice_per_channel", "whisper_chunks"]

SAMPLE_RATE = 16000
_CHUNK_BYTES = 1 << 20  # 1 MiB of s16le = 32 s of audio per read


def _pcm(stream: IO[bytes]) -> Iterator[np.ndarray]:
    """The s16le samples ffmpeg writes to ``stream``, read _CHUNK_BYTES at a time (an odd byte waits for the next)."""
    carry = b""
    while chunk := stream.read(_CHUNK_BYTES):
        chunk = carry + chunk
        usable = len(chunk) - len(chunk) % 2
        carry = chunk[usable:]
        yield np.frombuffer(chunk[:usable], dtype="<i2")


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
    try:
        for samples in _pcm(proc.stdout):
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
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-v", "error", "-y", "-ss", f"{start:.6f}", "-t",
           f"{length:.6f}", "-i", str(source), "-map", "0:a:0", "-vn", "-ac", "1", "-ar", str(SAMPLE_RATE),
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


# --- the single job's VAD, over a whole recording in bounded memory (issue 11) ------------------------------------
# A part must decode exactly the 30 s chunks the single job would decode (tiny models hear a word differently in
# another chunk), so the split runs the single job's VAD over the whole recording once and cuts only between its
# chunks. faster-whisper's Silero VAD runs its ONNX model over 512-sample windows, 10,000 windows per call with the
# LSTM state carried from call to call, each window seeing the previous window's last 64 samples: feeding it block by
# block on those same 10,000-window boundaries, with the state and the 64 samples carried over, gives the very
# probabilities the whole-file call gives, while holding one 320 s block (20 MB) and one float per 32 ms.

VAD_WINDOW = 512
VAD_CONTEXT = 64
VAD_BATCH = 10_000  # windows per ONNX call in faster_whisper.vad.SileroVADModel
CHUNK_S = 30.0  # the batched pipeline's chunk length: VAD segments are packed into chunks of at most this


def _vad_options():
    """The VAD options BatchedInferencePipeline.transcribe uses when given none (faster-whisper 1.2)."""
    from faster_whisper.vad import VadOptions

    return VadOptions(max_speech_duration_s=CHUNK_S, min_silence_duration_ms=160)


def speech_probabilities(source: str, progress: Callable[[float], None] | None = None,
                         duration: float | None = None) -> tuple[np.ndarray, int]:
    """Silero's speech probability per 512-sample window of the whole of ``source`` (decoded by ffmpeg exactly as
    ``load_audio`` decodes it), and the number of samples. Equal to faster-whisper's whole-file pass."""
    from faster_whisper.vad import get_vad_model

    session = get_vad_model().session
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-v", "error", "-i", str(source), "-map", "0:a:0", "-vn",
           "-ac", "1", "-ar", str(SAMPLE_RATE), "-f", "s16le", "-"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    block = VAD_WINDOW * VAD_BATCH
    h = np.zeros((1, 1, 128), dtype=np.float32)
    c = np.zeros((1, 1, 128), dtype=np.float32)
    tail = np.zeros(VAD_CONTEXT, dtype=np.float32)
    probs: list[np.ndarray] = []
    pending = np.empty(0, dtype=np.float32)
    total = 0

    def run(x: np.ndarray) -> None:
        nonlocal h, c, tail
        windows = x.reshape(-1, VAD_WINDOW)
        context = np.empty((len(windows), VAD_CONTEXT), dtype=np.float32)
        context[0], context[1:] = tail, windows[:-1, -VAD_CONTEXT:]
        out, h, c = session.run(None, {"input": np.concatenate([context, windows], 1), "h": h, "c": c})
        probs.append(np.asarray(out, dtype=np.float32).reshape(-1))
        tail = windows[-1, -VAD_CONTEXT:].copy()

    try:
        for pcm in _pcm(proc.stdout):
            x = pcm.astype(np.float32) / 32768.0
            total += len(x)
            pending = np.concatenate([pending, x])
            while len(pending) >= block:
                run(pending[:block])
                pending = pending[block:]
            if progress is not None and duration:
                progress(min(total / SAMPLE_RATE / duration, 1.0))
    except BaseException:
        proc.kill()
        raise
    finally:
        proc.stdout.close()
        rc = proc.wait()
    if rc != 0 or total == 0:
        raise MediaError("the file is truncated or corrupt")
    # the whole-file pass pads with zeros up to the next multiple of 512 (a whole window when already a multiple)
    run(np.concatenate([pending, np.zeros(VAD_WINDOW - total % VAD_WINDOW, dtype=np.float32)]))
    return np.concatenate(probs), total


def speech_from_probabilities(speech_probs: np.ndarray, audio_length_samples: int, vad_options=None) -> list[dict]:
    """faster_whisper.vad.get_speech_timestamps (1.2) from already computed probabilities: speech segments as
    {"start", "end"} in samples. The same steps line for line (tests/worker/test_parts.py checks the two agree)."""
    o = vad_options or _vad_options()
    sampling_rate, window_size_samples = SAMPLE_RATE, VAD_WINDOW
    threshold = o.threshold
    neg_threshold = o.neg_threshold if o.neg_threshold is not None else max(threshold - 0.15, 0.01)
    min_speech_samples = sampling_rate * o.min_speech_duration_ms / 1000
    speech_pad_samples = sampling_rate * o.speech_pad_ms / 1000
    max_speech_samples = sampling_rate * o.max_speech_duration_s - window_size_samples - 2 * speech_pad_samples
    min_silence_samples = sampling_rate * o.min_silence_duration_ms / 1000
    min_silence_samples_at_max_speech = sampling_rate * 98 / 1000

    triggered = False
    speeches: list[dict] = []
    current_speech: dict = {}
    temp_end = 0
    prev_end = next_start = 0
    for i, speech_prob in enumerate(speech_probs.tolist()):
        if (speech_prob >= threshold) and temp_end:
            temp_end = 0
            if next_start < prev_end:
                next_start = window_size_samples * i
        if (speech_prob >= threshold) and not triggered:
            triggered = True
            current_speech["start"] = window_size_samples * i
            continue
        if triggered and (window_size_samples * i) - current_speech["start"] > max_speech_samples:
            if prev_end:
                current_speech["end"] = prev_end
                speeches.append(current_speech)
                current_speech = {}
                if next_start < prev_end:
                    triggered = False
                else:
                    current_speech["start"] = next_start
                prev_end = next_start = temp_end = 0
            else:
                current_speech["end"] = window_size_samples * i
                speeches.append(current_speech)
                current_speech = {}
                prev_end = next_start = temp_end = 0
                triggered = False
                continue
        if (speech_prob < neg_threshold) and triggered:
            if not temp_end:
                temp_end = window_size_samples * i
            if (window_size_samples * i) - temp_end > min_silence_samples_at_max_speech:
                prev_end = temp_end
            if (window_size_samples * i) - temp_end < min_silence_samples:
                continue
            current_speech["end"] = temp_end
            if (current_speech["end"] - current_speech["start"]) > min_speech_samples:
                speeches.append(current_speech)
            current_speech = {}
            prev_end = next_start = temp_end = 0
            triggered = False
            continue
    if current_speech and (audio_length_samples - current_speech["start"]) > min_speech_samples:
        current_speech["end"] = audio_length_samples
        speeches.append(current_speech)

    for i, speech in enumerate(speeches):
        if i == 0:
            speech["start"] = int(max(0, speech["start"] - speech_pad_samples))
        if i != len(speeches) - 1:
            silence_duration = speeches[i + 1]["start"] - speech["end"]
            if silence_duration < 2 * speech_pad_samples:
                speech["end"] += int(silence_duration // 2)
                speeches[i + 1]["start"] = int(max(0, speeches[i + 1]["start"] - silence_duration // 2))
            else:
                speech["end"] = int(min(audio_length_samples, speech["end"] + speech_pad_samples))
                speeches[i + 1]["start"] = int(max(0, speeches[i + 1]["start"] - speech_pad_samples))
        else:
            speech["end"] = int(min(audio_length_samples, speech["end"] + speech_pad_samples))
    return speeches


def whisper_chunks(speech: list[dict], max_s: float = CHUNK_S) -> list[list[dict]]:
    """The speech segments grouped as faster_whisper.vad.collect_chunks groups them: greedily, from the first, into
    chunks of at most ``max_s`` seconds of speech (the silences between segments are dropped, not counted)."""
    chunks: list[list[dict]] = []
    size = 0
    for seg in speech:
        n = seg["end"] - seg["start"]
        if not chunks or size + n > max_s * SAMPLE_RATE:
            chunks.append([seg])
            size = n
        else:
            chunks[-1].append(seg)
            size += n
    return chunks
