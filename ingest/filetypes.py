"""Which names the ingester takes, which it ignores silently, and which it reports as unsupported."""
from __future__ import annotations

from pathlib import PurePosixPath

# Containers ffmpeg decodes for us (imageio-ffmpeg's static build or the system's).
MEDIA_EXTENSIONS = frozenset("""
    wav wave mp3 m4a m4b aac flac ogg oga opus wma webm weba mka amr aif aiff aifc caf au snd 3gp 3g2
    mp4 m4v mov mkv avi wmv flv mpg mpeg mp2 ts mts m2ts vob ogv
""".split())
# What we write back ourselves (subtitles, text, error notes): never ingested, never reported.
SIDECAR_EXTENSIONS = frozenset({"srt", "vtt", "txt", "json"})
# Names that belong to a file still being written by a browser, a copy tool or an editor.
TEMPORARY_SUFFIXES = (".part", ".partial", ".crdownload", ".download", ".tmp", ".temp", ".swp", "~")


def extension(name: str) -> str:
    return PurePosixPath(name).suffix.lower().lstrip(".")


def is_temporary(name: str) -> bool:
    """Hidden or still being written: wait for the final name instead."""
    low = name.lower()
    return name.startswith(".") or name.startswith("~$") or low.endswith(TEMPORARY_SUFFIXES)


def classify(name: str) -> str:
    """"media", "temporary", "sidecar" or "unsupported"."""
    if is_temporary(name):
        return "temporary"
    ext = extension(name)
    if ext in MEDIA_EXTENSIONS:
        return "media"
    if ext in SIDECAR_EXTENSIONS:
        return "sidecar"
    return "unsupported"
