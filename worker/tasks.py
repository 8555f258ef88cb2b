"""The RQ task around the pure pipeline: fetch the media, run the pipeline, store the result, report progress.

Enqueued by name (``"worker.tasks.transcribe"``) with a transcript id. PostgreSQL holds the truth about the job;
every failure is written to the row in words a user understands, then re-raised so RQ sees it too.
"""
from __future__ import annotations

import logging
import os
import socket
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from flask import Flask
from sqlalchemy import delete, insert

from webapp import storage
from webapp.extensions import db
from webapp.models import Segment, Speaker, Transcript, Word
from worker.errors import MediaError, ModelNotAvailable
from worker.result import Options, TranscriptResult

log = logging.getLogger("scriptorium.worker")

# Where each stage sits on the 0..100 progress bar.
STAGE_SPAN = {
    "fetch": (0, 5), "decode": (5, 10), "transcribe": (10, 80), "align": (80, 86),
    "diarize": (86, 96), "store": (96, 100),
}
PROGRESS_INTERVAL = 1.0  # seconds between progress writes, at most

_app: Flask | None = None


class JobCancelled(Exception):
    """Someone cancelled or deleted the transcript while it ran."""


def set_app(app: Flask) -> None:
    """The worker process (or a test) says which app — settings, database — jobs run in."""
    global _app
    _app = app


def get_app() -> Flask:
    global _app
    if _app is None:
        from webapp import create_app

        _app = create_app()
    return _app


def transcribe(transcript_id: int) -> dict | None:
    """RQ entry point."""
    with get_app().app_context():
        try:
            return _run(transcript_id)
        finally:
            db.session.remove()


class Progress:
    """Turns (stage, fraction) into the row's stage/progress, throttled, and notices cancellation."""

    def __init__(self, transcript_id: int):
        self.transcript_id = transcript_id
        self.stage: str | None = None
        self.last_write = 0.0
        self.last_pct = -1

    def __call__(self, stage: str, fraction: float = 0.0) -> None:
        lo, hi = STAGE_SPAN.get(stage, (0, 100))
        pct = int(lo + (hi - lo) * min(max(fraction, 0.0), 1.0))
        now = time.monotonic()
        if stage == self.stage and (now - self.last_write < PROGRESS_INTERVAL or pct == self.last_pct):
            return
        t = db.session.get(Transcript, self.transcript_id, populate_existing=True)
        if t is None or t.status != "running":
            raise JobCancelled()
        t.stage, t.progress = stage, max(pct, t.progress if stage == self.stage else pct)
        db.session.commit()
        self.stage, self.last_write, self.last_pct = stage, now, pct


def _run(transcript_id: int) -> dict | None:
    t = db.session.get(Transcript, transcript_id)
    if t is None or t.status not in ("queued", "running"):
        log.info("transcript %s is gone or no longer queued; nothing to do", transcript_id)
        return None
    settings = get_app().config["SCRIPTORIUM"]
    t.status, t.stage, t.progress, t.error = "running", "fetch", 0, None
    t.attempts += 1
    t.started_at, t.finished_at = datetime.now(timezone.utc), None
    t.worker = f"{socket.gethostname()}:{os.getpid()}"
    db.session.commit()
    progress = Progress(transcript_id)
    started = time.monotonic()
    try:
        with tempfile.TemporaryDirectory(prefix="scriptorium-job-") as tmp:
            path = Path(tmp) / "media"
            fetch_t0 = time.monotonic()
            storage.from_settings(settings).download(t.media.storage_key, path)
            fetch_s = time.monotonic() - fetch_t0
            progress("fetch", 1.0)
            from worker import pipeline

            result = pipeline.transcribe(
                path, Options.from_dict(t.options), progress=progress,
                device=settings.whisper_device, compute_type=settings.whisper_compute_type,
                default_model=settings.whisper_model,
            )
        progress("store", 0.0)
        result.timings = {"fetch": round(fetch_s, 3), **result.timings}
        store_result(transcript_id, result, time.monotonic() - started)
        log.info("transcript %s done: %d segments, %.1f s of audio", transcript_id, len(result.segments),
                 result.duration)
        return {"segments": len(result.segments), "duration": result.duration}
    except JobCancelled:
        db.session.rollback()
        log.info("transcript %s was cancelled while running", transcript_id)
        return None
    except (MediaError, ModelNotAvailable) as exc:
        _fail(transcript_id, str(exc))
        raise
    except storage.StorageError as exc:
        _fail(transcript_id, f"could not read the stored media: {exc}")
        raise
    except Exception as exc:
        stage = progress.stage or "fetch"
        _fail(transcript_id, f"internal error while {stage}: {type(exc).__name__}: {str(exc)[:300]}")
        raise


def _fail(transcript_id: int, message: str) -> None:
    db.session.rollback()
    t = db.session.get(Transcript, transcript_id, populate_existing=True)
    if t is None or t.status == "cancelled":
        return
    t.status, t.error, t.finished_at = "failed", message, datetime.now(timezone.utc)
    db.session.commit()
    log.warning("transcript %s failed: %s", transcript_id, message)


def store_result(transcript_id: int, result: TranscriptResult, elapsed: float) -> None:
    """Replace the transcript's segments, words and speakers with ``result``, in one transaction."""
    t = db.session.get(Transcript, transcript_id, populate_existing=True, with_for_update=True)
    if t is None or t.status != "running":
        db.session.rollback()
        raise JobCancelled()
    names = {s.label: s.display_name for s in t.speakers if s.display_name}
    db.session.execute(delete(Word).where(Word.transcript_id == transcript_id))
    db.session.execute(delete(Segment).where(Segment.transcript_id == transcript_id))
    db.session.execute(delete(Speaker).where(Speaker.transcript_id == transcript_id))
    labels = list(dict.fromkeys(result.speakers + [s.speaker for s in result.segments if s.speaker]))
    if labels:
        db.session.execute(insert(Speaker), [
            {"transcript_id": transcript_id, "label": label, "display_name": names.get(label)} for label in labels])
    seg_ids = db.session.scalars(
        insert(Segment).returning(Segment.id, sort_by_parameter_order=True),
        [{"transcript_id": transcript_id, "idx": i, "start": s.start, "end": s.end, "speaker": s.speaker,
          "text": s.text.strip()} for i, s in enumerate(result.segments)],
    ).all() if result.segments else []
    words = [
        {"segment_id": seg_id, "transcript_id": transcript_id, "idx": j, "start": w.start, "end": w.end,
         "word": w.word[:255], "score": w.score, "speaker": w.speaker}
        for seg_id, s in zip(seg_ids, result.segments) for j, w in enumerate(s.words)
    ]
    if words:
        db.session.execute(insert(Word), words)
    t.status, t.stage, t.progress, t.error = "done", None, 100, None
    t.language, t.language_probability = result.language, result.language_probability
    t.duration, t.model = result.duration, result.model
    t.word_timing, t.diarization = result.word_timing, result.diarization
    t.timings = {**result.timings, "total": round(elapsed, 3)}
    t.finished_at = datetime.now(timezone.utc)
    if t.media.duration is None:
        t.media.duration = result.duration
    db.session.commit()


__all__ = ["JobCancelled", "get_app", "set_app", "store_result", "transcribe"]
