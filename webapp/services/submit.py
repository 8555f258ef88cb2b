"""The one path every file takes in: upload form, JSON API, watched folder and bucket events.

``submit_media`` streams the bytes to a temporary file while hashing them, stores them once per content
(SHA-256), records the media row, and enqueues one transcription per (owner, content, options). Submitting the
same thing again returns the transcript that already exists (and re-queues it if it had failed or was cancelled).
"""
from __future__ import annotations

import hashlib
import json
import mimetypes
import os
import re
import tempfile
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, BinaryIO

from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from webapp import queue, storage
from webapp.media_probe import MediaError, probe
from webapp.extensions import db
from webapp.models import Media, Transcript, User
from webapp.models.media import SOURCES

CHUNK = 1024 * 1024
_LANG_RE = re.compile(r"^[a-z]{2,3}(-[A-Za-z]{2,4})?$")
OPTION_DEFAULTS: dict[str, Any] = {
    "model": None, "language": None, "task": "transcribe", "diarize": False,
    "num_speakers": None, "min_speakers": None, "max_speakers": None,
    "initial_prompt": None, "hotwords": None, "suppress_numerals": False,
}


class SubmitError(ValueError):
    """The submission cannot be accepted; the message says why, in words for the person who sent it."""

    status = 400


class TooLarge(SubmitError):
    status = 413


@dataclass
class Submitted:
    transcript: Transcript
    created: bool


def clean_filename(name: str | None) -> str:
    """A display name safe anywhere: no directories, no control characters, at most 255 bytes."""
    name = unicodedata.normalize("NFC", (name or "").replace("\\", "/").rsplit("/", 1)[-1])
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C").strip().strip(".")
    while len(name.encode()) > 255:
        name = name[:-1]
    return name or "recording"


def _int_or_none(key: str, value: Any) -> int | None:
    if value in (None, ""):
        return None
    try:
        n = int(value)
    except (TypeError, ValueError):
        raise SubmitError(f"{key} must be a whole number") from None
    if not 1 <= n <= 20:
        raise SubmitError(f"{key} must be between 1 and 20")
    return n


def normalise_options(raw: dict[str, Any] | None, default_model: str) -> dict[str, Any]:
    """Validated options with defaults filled in, so equal requests compare equal."""
    raw = dict(raw or {})
    if any(isinstance(v, str) and "\x00" in v for v in raw.values()):  # PostgreSQL text cannot hold NUL
        raise SubmitError("an option contains a NUL character")
    opts = dict(OPTION_DEFAULTS)
    model = (raw.get("model") or "").strip() or default_model
    if len(model) > 200:
        raise SubmitError("model name is too long")
    opts["model"] = model
    lang = (raw.get("language") or "").strip()
    if lang and lang != "auto":
        if not _LANG_RE.match(lang):
            raise SubmitError(f"language must be a code such as 'en' or 'de', or 'auto'; got {lang[:20]!r}")
        opts["language"] = lang.lower()
    task = (raw.get("task") or "transcribe").strip()
    if task not in ("transcribe", "translate"):
        raise SubmitError("task must be 'transcribe' or 'translate'")
    opts["task"] = task
    opts["diarize"] = _flag(raw.get("diarize", False))
    for key in ("num_speakers", "min_speakers", "max_speakers"):  # "detect"/"auto": estimate the count
        value = raw.get(key)
        opts[key] = None if str(value).strip().lower() in ("detect", "auto") else _int_or_none(key, value)
    if opts["min_speakers"] and opts["max_speakers"] and opts["min_speakers"] > opts["max_speakers"]:
        raise SubmitError("min_speakers must not be more than max_speakers")
    for key in ("initial_prompt", "hotwords"):
        text = (raw.get(key) or "").strip()
        if len(text) > 500:
            raise SubmitError(f"{key} must be at most 500 characters")
        opts[key] = text or None
    opts["suppress_numerals"] = _flag(raw.get("suppress_numerals", False))
    return opts


def _flag(value: Any) -> bool:
    return value if isinstance(value, bool) else str(value).lower() in ("1", "true", "yes", "on")


def options_key(opts: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(opts, sort_keys=True).encode()).hexdigest()


def _spool(stream: BinaryIO, limit: int, tmp_dir: Path) -> tuple[Path, str, int]:
    """Copy the stream to a temp file, hashing as it goes; never more than ``limit`` bytes."""
    tmp_dir.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix="upload-", dir=tmp_dir)
    digest, size = hashlib.sha256(), 0
    try:
        with os.fdopen(fd, "wb") as out:
            while chunk := stream.read(CHUNK):
                size += len(chunk)
                if size > limit:
                    raise TooLarge(f"the file is larger than the limit of {limit // (1024 * 1024)} MB")
                digest.update(chunk)
                out.write(chunk)
    except BaseException:
        os.unlink(name)
        raise
    return Path(name), digest.hexdigest(), size


def _default_owner() -> User:
    owner = db.session.scalar(select(User).where(User.is_admin.is_(True)).order_by(User.id).limit(1))
    if owner is None:
        raise SubmitError("no admin account exists yet to own files from the folder or bucket")
    return owner


def _store_media(path: Path, sha: str, size: int, filename: str, source: str) -> Media:
    store = storage.from_settings(current_app.config["SCRIPTORIUM"])
    media = db.session.scalar(select(Media).where(Media.sha256 == sha))
    mime = mimetypes.guess_type(filename)[0]
    if media is not None:
        if store.size(media.storage_key) is None:  # row outlived its bytes: store them again
            store.put_file(media.storage_key, path, mime)
        return media
    key = f"media/{sha[:2]}/{sha}"
    store.put_file(key, path, mime)
    media = Media(sha256=sha, size=size, original_name=filename, mime=mime, storage_key=key, source=source)
    db.session.add(media)
    try:
        db.session.commit()
    except IntegrityError:  # the same bytes arrived at the same moment by another path
        db.session.rollback()
        media = db.session.scalar(select(Media).where(Media.sha256 == sha))
    return media


def submit_media(stream: BinaryIO, filename: str | None, source: str = "upload",
                 options: dict[str, Any] | None = None, owner: User | None = None,
                 title: str | None = None) -> Submitted:
    """Store ``stream`` and queue its transcription once; see the module docstring."""
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}")
    settings = current_app.config["SCRIPTORIUM"]
    opts = normalise_options(options, settings.whisper_model)
    filename = clean_filename(filename)
    if title and "\x00" in title:
        raise SubmitError("the title contains a NUL character")
    owner = owner or _default_owner()
    path, sha, size = _spool(stream, settings.max_upload_mb * 1024 * 1024, settings.data_dir / "tmp")
    try:
        if size == 0:
            raise SubmitError("the file is empty")
        problem, duration = _probe(path)
        media = _store_media(path, sha, size, filename, source)
        if media.duration is None and duration:
            media.duration = duration
            db.session.commit()
    finally:
        path.unlink(missing_ok=True)
    key = options_key(opts)
    existing = db.session.scalar(select(Transcript).where(
        Transcript.owner_id == owner.id, Transcript.media_id == media.id, Transcript.options_key == key))
    if existing is not None:
        if existing.status in ("failed", "cancelled"):
            requeue(existing)
        return Submitted(existing, False)
    transcript = Transcript(owner_id=owner.id, media_id=media.id, title=title or filename, status="queued",
                            options=opts, options_key=key, model=opts["model"], progress=0)
    if problem:  # not media at all: say so now, queue nothing
        transcript.status, transcript.error = "failed", problem
        transcript.finished_at = datetime.now(timezone.utc)
    db.session.add(transcript)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        existing = db.session.scalar(select(Transcript).where(
            Transcript.owner_id == owner.id, Transcript.media_id == media.id, Transcript.options_key == key))
        return Submitted(existing, False)
    if not problem:
        enqueue(transcript)
    return Submitted(transcript, True)


def _probe(path: Path) -> tuple[str | None, float | None]:
    """(why this is not transcribable media or None, duration) by asking ffmpeg, not the file's name."""
    try:
        info = probe(path)
    except MediaError as exc:
        return str(exc), None
    if not info.has_audio:
        return "the file has no audio track", info.duration
    limit = current_app.config["SCRIPTORIUM"].max_duration_minutes
    if info.duration and info.duration > limit * 60 + 1:
        return f"the recording is longer than the maximum of {limit} minutes", info.duration
    return None, info.duration


def enqueue(transcript: Transcript) -> None:
    """Name the job, commit the name, then enqueue: the worker only runs the job the row names."""
    job_id = uuid.uuid4().hex
    transcript.rq_job_id = job_id
    db.session.commit()
    try:
        queue.enqueue_transcription(transcript.id, transcript.media.duration, job_id=job_id)
    except Exception:
        transcript.status, transcript.error = "failed", "could not reach the job queue; retry in a moment"
        db.session.commit()
        raise


def requeue(transcript: Transcript) -> None:
    """Run a failed or cancelled transcript again from the start."""
    transcript.status, transcript.stage, transcript.progress, transcript.error = "queued", None, 0, None
    transcript.attempts = 0
    transcript.finished_at = None
    db.session.commit()
    enqueue(transcript)
