"""The one path every file takes in: upload form, JSON API, watched folder and bucket events.

``submit_media`` checks every input, streams the bytes to a temporary file while hashing them, asks ffmpeg what
they are, stores them once per content (SHA-256) when they are audio or video, records the media row, and
enqueues one transcription per (owner, content, options). Anything else (a page, a script, a picture) gets a
failed transcript that says why and no stored bytes. Submitting the same thing again returns the transcript that
already exists (and re-queues it if it had failed or was cancelled).
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
from flask_babel import gettext as _
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

from webapp import model_registry, queue, storage
from webapp.errors import Conflict, Invalid
from webapp.extensions import db
from webapp.i18n import status_name
from webapp.media_probe import MediaError, MediaInfo, probe
from webapp.models import Media, Transcript, User
from webapp.models.media import SOURCES

CHUNK = 1024 * 1024
TITLE_MAX = 255  # characters, as transcripts.title holds
_LANG_RE = re.compile(r"^[a-z]{2,3}(-[A-Za-z]{2,4})?$")
OPTION_DEFAULTS: dict[str, Any] = {
    "model": None, "language": None, "task": "transcribe", "diarize": False,
    "num_speakers": None, "min_speakers": None, "max_speakers": None,
    "initial_prompt": None, "hotwords": None, "suppress_numerals": False,
}


class SubmitError(Invalid):
    """The submission cannot be accepted; the message says why, in words for the person who sent it."""


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
        raise SubmitError(_("%(key)s must be a whole number", key=key)) from None
    if not 1 <= n <= 20:
        raise SubmitError(_("%(key)s must be between 1 and 20", key=key))
    return n


def normalise_options(raw: dict[str, Any] | None, default_model: str,
                      model_paths: tuple[str, ...] = ()) -> dict[str, Any]:
    """Validated options with defaults filled in, so equal requests compare equal."""
    raw = dict(raw or {})
    if any(isinstance(v, str) and "\x00" in v for v in raw.values()):  # PostgreSQL text cannot hold NUL
        raise SubmitError(_("an option contains a NUL character"))
    opts = dict(OPTION_DEFAULTS)
    model = (raw.get("model") or "").strip() or default_model
    if len(model) > 200:
        raise SubmitError(_("model name is too long"))
    try:  # one spelling per model; arbitrary paths refused (each would load another model into a worker)
        opts["model"] = model_registry.normalise(model, (*model_paths, default_model))
    except model_registry.ModelNotAvailable as exc:
        raise SubmitError(str(exc)) from None
    lang = (raw.get("language") or "").strip()
    if lang and lang != "auto":
        if not _LANG_RE.match(lang):
            raise SubmitError(_("language must be a code such as 'en' or 'de', or 'auto'; got %(got)r", got=lang[:20]))
        opts["language"] = lang.lower()
    task = (raw.get("task") or "transcribe").strip()
    if task not in ("transcribe", "translate"):
        raise SubmitError(_("task must be 'transcribe' or 'translate'"))
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
            raise SubmitError(_("%(key)s must be at most 500 characters", key=key))
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
                    raise TooLarge(_("the file is larger than the limit of %(mb)s MB", mb=limit // (1024 * 1024)))
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


def clean_title(title: str | None) -> str | None:
    """A title someone gave, checked before anything is stored (None: use the filename)."""
    if title is None or not title.strip():
        return None
    if "\x00" in title:
        raise SubmitError(_("the title contains a NUL character"))
    title = " ".join(title.split())
    if len(title) > TITLE_MAX:
        raise SubmitError(_("the title must be at most %(max)d characters (it has %(len)d)", max=TITLE_MAX, len=len(title)))
    return title


# Types a browser (or a name) may report for a file that is certainly not a recording. Only a quick refusal for
# the upload page: what is kept and served is decided by probing the content (``submit_media``), never by a name.
_NOT_MEDIA_PREFIXES = ("text/", "image/", "font/", "model/", "message/", "multipart/")
_NOT_MEDIA_SUFFIXES = ("+xml", "+json", "+zip")
_NOT_MEDIA = {"application/pdf", "application/zip", "application/json", "application/msword", "application/xml",
              "application/gzip", "application/x-tar", "application/vnd.ms-excel", "application/javascript",
              "application/ecmascript", "application/x-javascript", "application/xhtml+xml", "application/wasm",
              "application/x-sh", "application/x-python-code", "application/x-httpd-php", "application/rtf",
              "application/vnd.openxmlformats-officedocument.wordprocessingml.document"}


def not_media_reason(filename: str) -> str | None:
    """Why a file is certainly not audio or video, judged by its name (the upload page's early answer), or None."""
    guess = mimetypes.guess_type(filename)[0] or ""
    if guess.startswith(_NOT_MEDIA_PREFIXES) or guess.endswith(_NOT_MEDIA_SUFFIXES) or guess in _NOT_MEDIA:
        return _("not an audio or video file (%(type)s)", type=guess)
    return None


def form_options(form: Any) -> dict[str, Any]:
    """The upload form's fields as submit options: the "translate" box picks the task, and the number of speakers
    counts only when "Tell speakers apart" is ticked."""
    options = {k: v for k, v in form.items() if k not in ("csrf_token", "translate")}
    options["task"] = "translate" if form.get("translate") else "transcribe"
    if not form.get("diarize"):
        options.pop("num_speakers", None)
    return options


# ffmpeg's demuxer name -> (type when there is video, type for audio alone). The type a recording is served
# with comes from here, never from the uploader's filename.
_CONTAINER_TYPES: dict[str, tuple[str, str]] = {
    "wav": ("audio/wav", "audio/wav"), "w64": ("audio/wav", "audio/wav"),
    "mp3": ("audio/mpeg", "audio/mpeg"), "flac": ("audio/flac", "audio/flac"),
    "ogg": ("video/ogg", "audio/ogg"), "aac": ("audio/aac", "audio/aac"),
    "mov,mp4,m4a,3gp,3g2,mj2": ("video/mp4", "audio/mp4"), "matroska,webm": ("video/webm", "audio/webm"),
    "avi": ("video/x-msvideo", "audio/x-msvideo"), "asf": ("video/x-ms-asf", "audio/x-ms-wma"),
    "mpeg": ("video/mpeg", "audio/mpeg"), "mpegts": ("video/mp2t", "audio/mp2t"),
    "aiff": ("audio/aiff", "audio/aiff"), "amr": ("audio/amr", "audio/amr"), "caf": ("audio/x-caf", "audio/x-caf"),
    "flv": ("video/x-flv", "video/x-flv"), "au": ("audio/basic", "audio/basic"), "ac3": ("audio/ac3", "audio/ac3"),
    "opus": ("audio/ogg", "audio/ogg"), "wv": ("audio/x-wavpack", "audio/x-wavpack"),
}


def content_type(info: MediaInfo) -> str:
    """The Content-Type for probed media: audio/* or video/* for the containers browsers know, else
    ``application/octet-stream`` (served only as a download)."""
    video, audio = _CONTAINER_TYPES.get(info.format, (None, None))
    chosen = video if info.has_video else audio
    return chosen or "application/octet-stream"


def _probe(path: Path) -> tuple[str | None, MediaInfo | None]:
    """(why this is not transcribable media or None, what ffmpeg saw) by asking ffmpeg, not the file's name."""
    try:
        info = probe(path)
    except MediaError as exc:
        return str(exc), None
    if not info.has_audio:
        return "the file has no audio track", info
    limit = current_app.config["SCRIPTORIUM"].max_duration_minutes
    if info.duration and info.duration > limit * 60 + 1:
        return f"the recording is longer than the maximum of {limit} minutes", info
    return None, info


def storage_key(sha: str) -> str:
    return f"media/{sha[:2]}/{sha}"


def _is_violation_of(exc: IntegrityError, constraint: str) -> bool:
    diag = getattr(exc.orig, "diag", None)
    return getattr(diag, "constraint_name", None) == constraint


def lock_content(sha: str) -> None:
    """Hold, until this transaction ends, the lock for one content hash.

    Everything that decides whether a content's media row and stored bytes exist takes it first (``_attach``
    here, ``jobs.delete``), so an upload and a delete of the same bytes, or two uploads of them, take turns:
    a delete never removes bytes a new upload has just counted on, and an upload never attaches to a row a
    delete is removing.
    """
    db.session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:sha, 0))"), {"sha": sha})


def _attach(path: Path, sha: str, size: int, filename: str, source: str, owner_id: int, opts: dict[str, Any],
            problem: str | None, info: MediaInfo | None, title: str | None) -> Submitted:
    """Record the media (storing the bytes only for transcribable media) and find or make the transcript.

    The same person sending the same thing at the same moment is a race this settles (the next pass finds the
    other request's transcript); any other integrity failure (an owner deleted meanwhile, say) is raised, and
    bytes this call stored that no row refers to are removed again.
    """
    store = storage.get()
    key = options_key(opts)
    mime = content_type(info) if info is not None and not problem else None
    stored = False
    try:
        for _attempt in range(3):
            if not problem:
                # The bytes go up before the lock is taken (a large upload must not hold it); checked again below.
                known = db.session.scalar(select(Media).where(Media.sha256 == sha))
                if known is None or not known.storage_key or store.size(known.storage_key) is None:
                    store.put_file(storage_key(sha), path, mime)
                    stored = True
            lock_content(sha)
            media = db.session.scalar(select(Media).where(Media.sha256 == sha))
            if media is None:
                media = Media(sha256=sha, size=size, original_name=filename, source=source, mime=mime,
                              storage_key=None if problem else storage_key(sha))
                db.session.add(media)
            elif not problem and not media.playable:  # no bytes kept before (a shorter limit, a row from before)
                media.storage_key, media.mime = storage_key(sha), mime
            if not problem and store.size(media.storage_key) is None:
                # a delete removed the bytes we counted on above, before it let go of the lock: store them again
                store.put_file(media.storage_key, path, mime)
                stored = True
            if media.duration is None and info is not None and info.duration:
                media.duration = info.duration
            db.session.flush()
            existing = db.session.scalar(select(Transcript).where(
                Transcript.owner_id == owner_id, Transcript.media_id == media.id, Transcript.options_key == key))
            if existing is not None:
                db.session.commit()
                if existing.status in ("failed", "cancelled") and not problem:
                    requeue(existing)
                return Submitted(existing, False)
            transcript = Transcript(owner_id=owner_id, media=media, title=title or filename,
                                    original_name=filename, source=source, status="queued", options=opts,
                                    options_key=key, model=opts["model"], progress=0)
            if problem:  # not something we can transcribe: say so now, queue nothing, keep no bytes
                transcript.status, transcript.error = "failed", problem
                transcript.finished_at = datetime.now(timezone.utc)
            db.session.add(transcript)
            try:
                db.session.commit()
            except IntegrityError as exc:
                db.session.rollback()
                if _is_violation_of(exc, "uq_transcript_per_options"):
                    continue  # the same person sent the same thing at the same moment: the next pass finds it
                raise
            if not problem:
                enqueue(transcript)
            return Submitted(transcript, True)
        raise RuntimeError(f"could not record {filename!r}: it kept changing under concurrent requests")
    except BaseException:
        db.session.rollback()
        if stored:
            _forget_bytes(store, sha)
        raise


def _forget_bytes(store, sha: str) -> None:
    """Remove bytes stored for ``sha`` when no media row refers to them (a submission that failed midway)."""
    try:
        lock_content(sha)
        if db.session.scalar(select(Media.id).where(Media.sha256 == sha)) is None:
            store.delete(storage_key(sha))
        db.session.commit()
    except Exception:  # the original failure is what the caller must see
        db.session.rollback()


def submit_media(stream: BinaryIO, filename: str | None, source: str = "upload",
                 options: dict[str, Any] | None = None, owner: User | None = None,
                 title: str | None = None) -> Submitted:
    """Store ``stream`` and queue its transcription once; see the module docstring.

    Every input is checked before a byte is kept, and bytes are kept only when ffmpeg says they are audio or
    video: anything else gets a failed transcript that says why, and no stored object.
    """
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}")
    settings = current_app.config["SCRIPTORIUM"]
    if options is None and source in ("folder", "bucket"):
        # nobody is there to say how many speakers a dropped file has: detect them (INGEST_SPEAKERS)
        options = {"diarize": settings.ingest_speakers}
    opts = normalise_options(options, settings.whisper_model, settings.whisper_model_paths)
    filename = clean_filename(filename)
    title = clean_title(title)
    owner = owner or _default_owner()
    path, sha, size = _spool(stream, settings.max_upload_mb * 1024 * 1024, settings.data_dir / "tmp")
    try:
        if size == 0:
            raise SubmitError(_("the file is empty"))
        problem, info = _probe(path)
        return _attach(path, sha, size, filename, source, owner.id, opts, problem, info, title)
    finally:
        path.unlink(missing_ok=True)


def check_retryable(t: Transcript) -> None:
    """Raise Conflict when ``t`` cannot run again: it is running, or no recording was kept for it."""
    if t.active:
        raise Conflict(_("the transcript is %(status)s; only finished ones can be run again", status=status_name(t.status)))
    if not t.media.storage_key:
        raise Conflict(f"there is no recording to transcribe: {t.error or 'the file was not audio or video'}")


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
    """Run a failed or cancelled transcript again from the start (Conflict when it cannot be)."""
    check_retryable(transcript)
    transcript.status, transcript.stage, transcript.progress, transcript.error = "queued", None, 0, None
    transcript.attempts = 0
    transcript.finished_at = None
    db.session.commit()
    enqueue(transcript)
