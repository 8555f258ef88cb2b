"""The RQ task around the pure pipeline: fetch the media, run the pipeline, store the result, report progress.

Enqueued by name (``"worker.tasks.transcribe"``) with a transcript id. PostgreSQL holds the truth about the job;
every failure is written to the row in words a user understands, then re-raised so RQ sees it too.
"""
from __future__ import annotations

import logging
import os
import socket
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from flask import Flask
from rq import get_current_job
from sqlalchemy import delete, insert, select, update

from webapp import storage
from webapp.extensions import db
from webapp.models import Segment, Speaker, Transcript, Word
from webapp import transient
from worker.errors import MediaError, ModelNotAvailable
from worker.result import Options, TranscriptResult

log = logging.getLogger("scriptorium.worker")

# Where each stage sits on the 0..100 progress bar.
STAGE_SPAN = {
    "fetch": (0, 5), "decode": (5, 10), "transcribe": (10, 80), "align": (80, 86),
    "diarize": (86, 96), "store": (96, 100),
}
PROGRESS_INTERVAL = 1.0  # seconds between progress writes, at most
HEARTBEAT_INTERVAL = 5.0  # seconds between "still alive" touches of a running transcript
CANCEL_POLL_INTERVAL = 0.5  # seconds between looks at the row for a cancel (a primary-key SELECT)

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
    """Turns (stage, fraction) into the row's stage/progress, throttled, and notices cancellation.

    The pipeline calls it often in every stage (per decoded chunk, and several times a second while a stage
    runs in its helper thread); each call raises JobCancelled as soon as the watcher has seen the cancel, so a
    cancel stops the job within about CANCEL_POLL_INTERVAL plus one call, whatever the stage.
    """

    def __init__(self, transcript_id: int, cancelled: threading.Event | None = None):
        self.transcript_id = transcript_id
        self.cancelled = cancelled or threading.Event()
        self.stage: str | None = None
        self.last_write = 0.0
        self.last_pct = -1

    def __call__(self, stage: str, fraction: float = 0.0) -> None:
        if self.cancelled.is_set():
            raise JobCancelled()
        lo, hi = STAGE_SPAN.get(stage, (0, 100))
        pct = int(lo + (hi - lo) * min(max(fraction, 0.0), 1.0))
        now = time.monotonic()
        if stage == self.stage and (now - self.last_write < PROGRESS_INTERVAL or pct == self.last_pct):
            return
        try:
            transient.retrying(lambda: self._write(stage, pct))
        finally:
            self.stage, self.last_write = stage, now
        self.last_pct = pct

    def _write(self, stage: str, pct: int) -> None:
        db.session.rollback()
        t = db.session.get(Transcript, self.transcript_id, populate_existing=True)
        if t is None or t.status != "running" or t.worker != _me():
            db.session.rollback()
            self.cancelled.set()
            raise JobCancelled()
        t.stage, t.progress = stage, max(pct, t.progress) if stage == t.stage else pct
        db.session.commit()


def _me() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class RowWatch:
    """A thread beside running work, watching the row that says it is running. Every few seconds it touches the
    row's ``updated_at``, so the reaper can tell slow work from work whose worker died (SIGKILL, power loss); twice
    a second it checks that ``mine`` still matches and otherwise sets ``cancelled`` (cancelled, deleted or taken
    over), which the progress callback turns into JobCancelled. (RQ's stop command does nothing to a SimpleWorker,
    which runs the job in-process.) ``Heartbeat`` watches a transcript, ``worker.parts.PartWatch`` a part."""

    def __init__(self, app: Flask, model: Any, row_id: int, mine: list, name: str, interval: float | None = None,
                 poll: float = CANCEL_POLL_INTERVAL):
        self.app, self.model, self.row_id, self.mine = app, model, row_id, mine
        # several beats fit in the reaper's patience, however it is configured
        self.interval = interval or min(HEARTBEAT_INTERVAL, app.config["SCRIPTORIUM"].job_stale_after / 4)
        self.poll = min(poll, self.interval)
        self.cancelled = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _beat(self) -> None:
        last_beat = time.monotonic()
        while not self._stop.wait(self.poll):
            try:
                with self.app.app_context(), db.engine.begin() as conn:
                    if time.monotonic() - last_beat >= self.interval:
                        last_beat = time.monotonic()
                        still_mine = conn.execute(update(self.model).where(*self.mine).values(
                            updated_at=datetime.now(timezone.utc))).rowcount == 1
                    else:
                        still_mine = conn.scalar(select(self.model.id).where(*self.mine)) is not None
                if not still_mine:
                    self.cancelled.set()
                    return
            except Exception as exc:  # the database may be restarting; the next beat tries again
                log.warning("heartbeat for %s failed: %s", self._thread.name.replace("-", " "), exc)


class Heartbeat(RowWatch):
    """The running transcript's watch: still running, and still this worker's."""

    def __init__(self, app: Flask, transcript_id: int, interval: float | None = None,
                 poll: float = CANCEL_POLL_INTERVAL):
        self.transcript_id = transcript_id
        mine = [Transcript.id == transcript_id, Transcript.status == "running", Transcript.worker == _me()]
        super().__init__(app, Transcript, transcript_id, mine, f"transcript-{transcript_id}", interval, poll)


def claim(transcript_id: int, job_id: str | None) -> bool:
    """Mark the transcript running for this job, atomically. Only the job the row names may run it, and only
    while it is queued, so a re-delivered or duplicate RQ job never runs the same transcript twice at once."""
    now = datetime.now(timezone.utc)
    cond = [Transcript.id == transcript_id, Transcript.status == "queued"]
    if job_id is not None:
        cond.append(Transcript.rq_job_id == job_id)
    res = db.session.execute(
        update(Transcript).where(*cond).values(
            status="running", stage="fetch", progress=0, error=None, attempts=Transcript.attempts + 1,
            started_at=now, finished_at=None, updated_at=now, worker=_me(),
        )
    )
    db.session.commit()
    return res.rowcount == 1


def _run(transcript_id: int) -> dict | None:
    job = get_current_job()
    if not transient.retrying(lambda: claim(transcript_id, job.id if job else None)):
        log.info("transcript %s is gone, not queued, or queued under another job; nothing to do", transcript_id)
        return None
    t = db.session.get(Transcript, transcript_id)
    key, options, duration = t.media.storage_key, Options.from_dict(t.options), t.media.duration
    # No transaction (and no pooled connection) may stay open through minutes of download and transcription:
    # from here on each progress write is its own short transaction.
    db.session.close()
    settings = get_app().config["SCRIPTORIUM"]
    if duration and duration > settings.chunk_minutes * 60:  # a long recording: parts for many workers (issue 11)
        return _split(transcript_id, key, duration)
    started = time.monotonic()
    heart = Heartbeat(get_app(), transcript_id)
    progress = Progress(transcript_id, heart.cancelled)
    heart.start()
    try:
        with tempfile.TemporaryDirectory(prefix="scriptorium-job-") as tmp:
            path = Path(tmp) / "media"
            fetch_t0 = time.monotonic()
            transient.retrying(lambda: _fetch(settings, key, path))
            fetch_s = time.monotonic() - fetch_t0
            progress("fetch", 1.0)
            from worker import pipeline

            result = pipeline.transcribe(
                path, options, progress=progress,
                device=settings.whisper_device, compute_type=settings.whisper_compute_type,
                default_model=settings.whisper_model, max_duration_s=settings.max_duration_minutes * 60,
                model_paths=settings.whisper_model_paths, cpu_threads=settings.worker_threads,
                align_model=settings.align_model, diarization_model=settings.diarization_model,
            )
        progress("store", 0.0)
        result.timings = {"fetch": round(fetch_s, 3), **result.timings}
        transient.retrying(lambda: store_result(transcript_id, result, time.monotonic() - started))
        _finished(transcript_id, "done", time.monotonic() - started, result)
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
        if transient.is_transient(exc):
            message = f"a service was unreachable while {stage} ({type(exc).__name__}); retry it"
        else:
            message = f"internal error while {stage}: {type(exc).__name__}: {str(exc)[:300]}"
        try:
            transient.retrying(lambda: _fail(transcript_id, message))
        except Exception:  # database still down: the reaper finds the stale row and re-queues it
            log.exception("could not record the failure of transcript %s", transcript_id)
        raise
    finally:
        heart.stop()


def _split(transcript_id: int, key: str, duration: float) -> dict | None:
    """Hand a long recording to worker.parts: plan its parts and enqueue one job each."""
    from worker import parts

    try:
        return {"parts": transient.retrying(lambda: parts.split(transcript_id, key, duration))}
    except JobCancelled:
        db.session.rollback()
        return None
    except Exception as exc:
        try:
            message = f"could not split the recording into parts: {exc}"
            transient.retrying(lambda: _fail(transcript_id, message))
        except Exception:
            log.exception("could not record the failure of transcript %s", transcript_id)
        raise


def _fetch(settings, key: str, path: Path) -> None:
    """Download the stored media to ``path`` (called with no database transaction open)."""
    storage.get().download(key, path)


def _fail(transcript_id: int, message: str) -> None:
    db.session.rollback()
    t = db.session.get(Transcript, transcript_id, populate_existing=True)
    if t is None or t.status != "running" or t.worker != _me():  # cancelled, deleted, or reaped meanwhile
        return
    t.status, t.error, t.finished_at = "failed", message, datetime.now(timezone.utc)
    elapsed = (t.finished_at - t.started_at).total_seconds() if t.started_at else None
    db.session.commit()
    log.warning("transcript %s failed: %s", transcript_id, message)
    _finished(transcript_id, "failed", elapsed)


def _finished(transcript_id: int, outcome: str, elapsed: float | None, result: TranscriptResult | None = None) -> None:
    """Count the job in the metrics and queue the owner's webhooks. Neither may undo the transcript's outcome:
    a Redis hiccup here is logged, not raised."""
    from webapp import metrics
    from webapp.services import webhooks

    metrics.JOBS_FINISHED.labels(outcome=outcome).inc()
    if elapsed is not None:
        metrics.JOB_DURATION.labels(outcome=outcome).observe(elapsed)
    if result is not None:
        for stage, seconds in (result.timings or {}).items():
            if isinstance(seconds, (int, float)):
                metrics.STAGE_DURATION.labels(stage=stage).observe(seconds)
        if result.duration:
            metrics.AUDIO_SECONDS.inc(result.duration)
            if elapsed:
                metrics.REALTIME_FACTOR.observe(elapsed / result.duration)
    try:
        webhooks.enqueue_event(transcript_id, f"transcript.{outcome}")
    except Exception:
        db.session.rollback()
        log.exception("could not queue the webhooks for transcript %s", transcript_id)


def store_result(transcript_id: int, result: TranscriptResult, elapsed: float) -> None:
    """Replace the transcript's segments, words and speakers with ``result``, in one transaction."""
    db.session.rollback()
    t = db.session.get(Transcript, transcript_id, populate_existing=True, with_for_update=True)
    if t is None or t.status != "running" or t.worker != _me():
        db.session.rollback()
        raise JobCancelled()
    write_result(t, result, elapsed)
    db.session.commit()


def _speaker_links(t: Transcript, result: TranscriptResult) -> dict[str, dict]:
    """{label: person link} of ``t``'s present speakers, to carry over to the speakers a retry writes: the person,
    how they were matched and the people rejected for the speaker. Dropped for a label whose new voiceprint no
    longer resembles the old one (a retry with other options can give a label to another voice); what is not
    carried is recognised afresh below."""
    import numpy as np

    from worker.recognise import Thresholds

    out = {}
    for s in t.speakers:
        if s.person_id is None and not s.rejected:
            continue
        new = result.speaker_embeddings.get(s.label)
        if s.embedding is not None and new is not None:
            a, b = np.asarray(s.embedding, dtype=np.float64), np.asarray(new, dtype=np.float64)
            if float(a @ b) / (float(np.linalg.norm(a) * np.linalg.norm(b)) or 1.0) < Thresholds().suggest:
                continue
        out[s.label] = {"person_id": s.person_id, "match": s.match, "similarity": s.similarity,
                        "rejected": s.rejected}
    return out


def write_result(t: Transcript, result: TranscriptResult, elapsed: float) -> None:
    """Write ``result``'s rows for ``t`` (replacing any) and mark it done; the caller holds the row and commits.

    The one writer of result rows: ``store_result`` above, and the tests' transcript factory."""
    transcript_id = t.id
    links = _speaker_links(t, result)  # a retry keeps who the speakers are (enrolled / recognised / rejected)
    # a name a person gave keeps its label unless that label is now another voice (its person link was dropped)
    names = {s.label: s.display_name for s in t.speakers
             if s.display_name and (s.person_id is None or s.label in links)}
    db.session.execute(delete(Word).where(Word.transcript_id == transcript_id))
    db.session.execute(delete(Segment).where(Segment.transcript_id == transcript_id))
    db.session.execute(delete(Speaker).where(Speaker.transcript_id == transcript_id))
    labels = list(dict.fromkeys(result.speakers + [s.speaker for s in result.segments if s.speaker]))
    if labels:
        db.session.execute(insert(Speaker), [
            {"transcript_id": transcript_id, "label": label, "display_name": names.get(label),
             "embedding": result.speaker_embeddings.get(label),
             **links.get(label, {"person_id": None, "match": None, "similarity": None, "rejected": None})}
            for label in labels])
    seg_ids = db.session.scalars(
        insert(Segment).returning(Segment.id, sort_by_parameter_order=True),
        [{"transcript_id": transcript_id, "idx": i, "start": s.start, "end": s.end, "speaker": s.speaker,
          "text": s.text.strip(), "language": s.language or result.language,
          "language_probability": s.language_probability} for i, s in enumerate(result.segments)],
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
    t.speaker_count, t.speaker_count_given = result.speaker_count, result.speaker_count_given
    t.timings = {**result.timings, "total": round(elapsed, 3)}
    t.finished_at = datetime.now(timezone.utc)
    if t.media.duration is None:
        t.media.duration = result.duration
    if result.speaker_embeddings:  # voice profiles: name the speakers whose voice the owner enrolled
        from webapp.services import people
        from worker.recognise import Thresholds, recognise

        db.session.flush()
        db.session.expire(t, ["speakers"])
        try:
            with db.session.begin_nested():  # a failed match loses the names, never the transcript
                people.match_transcript(t, recognise, Thresholds())
        except Exception:
            log.exception("recognising the speakers of transcript %s failed", t.id)


__all__ = ["JobCancelled", "get_app", "set_app", "store_result", "transcribe", "write_result"]
