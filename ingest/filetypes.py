"""Which names the ingester takes, which it ignores silently, and which it reports as unsupported."""
from __future__ import annotations

import os
import re
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


def shown(name: str) -> str:
    """A user-chosen name made safe for one log line: control characters (a newline would forge a line), line
    separators and undecodable bytes are written as escapes; other text, accents included, is left alone."""
    out = []
    for ch in name:
        code = ord(ch)
        if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8 (os.fsdecode's surrogateescape)
            out.append(f"\\x{code - 0xDC00:02x}")
        elif code < 0x20 or 0x7F <= code < 0xA0 or code in (0x2028, 0x2029) or 0xD800 <= code <= 0xDFFF:
            out.append(ch.encode("unicode_escape", "backslashreplace").decode("ascii"))
        elif ch == "\\":
            out.append("\\\\")
        else:
            out.append(ch)
    return "".join(out)


def stored(name: str) -> str:
    """A file name or path as text PostgreSQL accepts: bytes that are not UTF-8 written as ``\\xNN``."""
    try:
        name.encode("utf-8")
        return name
    except UnicodeEncodeError:
        return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def title(name: str) -> str:
    """A file name as a transcript title: bytes that are not UTF-8 become U+FFFD (a backslash escape would be
    read as a Windows folder separator by the upload name cleaning)."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def unstored(text: str) -> str:
    """The name :func:`stored` was given back (``\\xNN`` escapes become the bytes again, as ``os.fsdecode``)."""
    parts = re.split(r"\\x([0-9a-f]{2})", text)
    raw = b"".join(bytes([int(p, 16)]) if i % 2 else p.encode("utf-8") for i, p in enumerate(parts))
    return os.fsdecode(raw)
