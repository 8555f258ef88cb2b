"""What a media file is, asked of ffmpeg (the imageio-ffmpeg wheel's binary, or the system's), never of its name.

The domain owns this (the submit path refuses what is not media before it keeps a byte); the worker decodes with
the same binary. ffmpeg only: no torch, cheap to import in the web process.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path


class MediaError(Exception):
    """The file itself is the problem (not audio, no audio track, empty, corrupt, too long).

    Permanent: retrying the same file gives the same answer.
    """


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
