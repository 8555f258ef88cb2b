"""Media in, 16 kHz mono float32 out, through an ffmpeg binary (the imageio-ffmpeg wheel's or the system's).

`probe()` reads what `ffmpeg -i` prints (that wheel has no ffprobe); `load_audio()` streams ffmpeg's s16le
output into one float32 array so a long recording is never held twice in memory.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from worker.errors import MediaError

SAMPLE_RATE = 16000
_CHUNK_BYTES = 1 << 20  # 1 MiB of s16le = 32 s of audio per read

_DURATION = re.compile(r"Duration:\s*(\d+):(\d+):(\d+(?:\.\d+)?)")
_INPUT = re.compile(r"^Input #0, ([^,]+(?:,[^,]+)*?), from ", re.M)
_STREAM = re.compile(r"^\s*Stream #0:\d+.*?: (Audio|Video): (.*)$", re.M)


@dataclass(frozen=True)
class MediaInfo:
    duration: float | None  # seconds; None when the container does not say
    has_audio: bool
    has_video: bool
    format: str  # ffmpeg's demuxer name(s), e.g. "wav" or "mov,mp4,m4a,3gp,3g2,mj2"


@lru_cache(maxsize=1)
def ffmpeg_exe() -> str:
    """The ffmpeg binary: the imageio-ffmpeg wheel's, else the one on PATH."""
    try:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
    except Exception:  # wheel missing or its binary unusable on this platform
        found = shutil.which("ffmpeg")
        if not found:
            raise RuntimeError("no ffmpeg found: install imageio-ffmpeg or ffmpeg") from None
        return found


def _check_file(path: Path) -> None:
    if not path.is_file():
        raise MediaError("the file does not exist")
    if path.stat().st_size == 0:
        raise MediaError("the file is empty")


def probe(path: str | os.PathLike) -> MediaInfo:
    """Describe a media file; raise MediaError when ffmpeg cannot read it as media at all."""
    path = Path(path)
    _check_file(path)
    proc = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(path)],
        capture_output=True, text=True, errors="replace", timeout=60,
    )
    err = proc.stderr
    header = _INPUT.search(err)
    if not header:
        if "moov atom not found" in err:  # an MP4/MOV cut off before its index was written
            raise MediaError("the file is truncated or corrupt")
        raise MediaError("not an audio or video file")
    audio = video = False
    for kind, desc in _STREAM.findall(err):
        if kind == "Audio":
            audio = True
        elif "attached pic" not in desc:  # cover art in an mp3/m4a is not a video
            video = True
    m = _DURATION.search(err)
    duration = int(m[1]) * 3600 + int(m[2]) * 60 + float(m[3]) if m else None
    if not audio and not video:
        raise MediaError("not an audio or video file")
    return MediaInfo(duration=duration, has_audio=audio, has_video=video, format=header[1])


def _too_long(max_duration_s: float) -> MediaError:
    minutes = max_duration_s / 60
    shown = f"{minutes:.0f}" if minutes >= 10 or minutes.is_integer() else f"{minutes:.1f}"
    return MediaError(f"the recording is longer than the maximum of {shown} minutes")


def load_audio(
    path: str | os.PathLike, *, max_duration_s: float | None = None, info: MediaInfo | None = None
) -> np.ndarray:
    """Decode the first audio track to 16 kHz mono float32 in [-1, 1]."""
    path = Path(path)
    info = info or probe(path)
    if not info.has_audio:
        raise MediaError("the file has no audio track")
    if max_duration_s is not None and info.duration is not None and info.duration > max_duration_s + 1:
        raise _too_long(max_duration_s)

    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-v", "error", "-i", str(path),
           "-map", "0:a:0", "-vn", "-ac", "1", "-ar", str(SAMPLE_RATE), "-f", "s16le", "-"]
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
