"""Long recordings as many RQ jobs (issue 11): split at pauses, one job per part, one merge at the end.

* ``split`` (called by ``worker.tasks`` when a claimed recording is longer than CHUNK_MINUTES): runs the single
  job's VAD over the whole recording, block by block (``audio.speech_probabilities``), groups its speech into the
  single job's 30 s chunks, and cuts near evenly spaced boundaries only in the pause between two chunks. It writes
  the plan as ``transcript_parts`` rows (each with its speech segments) and enqueues one job per part. Parts do not
  overlap and each decodes exactly the single job's chunks (no VAD of its own, whose state would start afresh and
  find other segments), so the merged words are the single job's, and the merge simply concatenates.
* ``transcribe_part``: decodes only its span (ffmpeg ``-ss``/``-t`` input seeking on the stored file, or on a
  presigned URL for S3, which ffmpeg reads with HTTP range requests: nothing else of a multi-GB object is
  downloaded), runs the pure pipeline on it, computes its speakers' voiceprints, and stores the result on its row.
* ``merge``: the last part to finish enqueues it, under the parent row's lock. We chose this over RQ's
  ``depends_on``: the reaper and a retry re-enqueue a part under a new job id, and RQ dependencies are bound to
  the original ids (and need every part job to stay in Redis); the row lock makes PostgreSQL, which holds the
  truth, decide once that all parts are done. The merge clusters all parts' voiceprints at once, relabels, and
  writes everything with ``write_result`` in one transaction.
"""
from __future__ import annotations

import logging
import math
import tempfile
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

from rq import get_current_job
from sqlalchemy import exists, select, update

from webapp import storage, transient
from webapp.extensions import db
from webapp.models import Transcript, TranscriptPart
from webapp.services import parts as part_service
from worker.errors import MediaError, ModelNotAvailable
from worker.result import Options, Segment, TranscriptResult, Word
from worker.tasks import (STAGE_SPAN, JobCancelled, RowWatch, _me, get_app,
                          write_result)

log = logging.getLogger("scriptorium.worker")
# Cosine distance (average linkage) under which voiceprints from different parts are one person. Measured on
# pyannote's real two-speaker sample.wav cut in 15 s halves (bench/long.py --threshold), with worker.voiceprints'
# words-based print: the same speaker across halves 0.057 and 0.170, the two speakers 0.129-0.214. The ranges
# overlap on such short spans, so the cut sits under the closest pair of different people: a voice may be split
# into two labels (a rename merges them), but two people are not merged into one. Give num_speakers when you know
# it. (With the first, segment-mean print the same run gave 0.081/0.189 and 0.138-0.308, and the cut was 0.13.)
SPEAKER_THRESHOLD = 0.12
PRESIGN_FOR = timedelta(hours=12)


def media_source(key: str) -> str:
    """Where ffmpeg reads the stored recording: the file itself for local storage, a presigned GET for S3."""
    store = storage.get()
    if isinstance(store, storage.LocalStorage):
        return str(store._path(key))
    return store.client.presigned_get_object(store.bucket, storage.check_key(key), expires=PRESIGN_FOR)


def plan(source: str, duration: float, chunk_s: float,
         progress: Callable[[float], None] | None = None) -> list[tuple[float, float, list[list[int]]]]:
    """(start, end, speech) of each part: about ``duration / ceil(duration / chunk_s)`` long, cut between two of
    the 30 s chunks the single job would decode, in the pause between them; ``speech``: the VAD's speech segments
    inside the part, [start, end] in samples of the whole recording. The VAD is the single job's, run over the
    whole recording once (``audio.speech_probabilities``, block by block), so every part decodes exactly the
    single job's chunks: the merged transcript is the single job's, seams included. A part is therefore never
    shorter than one chunk (30 s of speech). ``progress(fraction)`` runs as the VAD reads; it may raise to stop."""
    from worker.audio import SAMPLE_RATE, speech_from_probabilities, speech_probabilities, whisper_chunks

    probs, total = speech_probabilities(source, progress, duration=duration)
    speech = speech_from_probabilities(probs, total)
    duration = total / SAMPLE_RATE
    chunks = whisper_chunks(speech)
    ms = SAMPLE_RATE // 1000
    bounds = []  # where a part may start: a millisecond in the pause before each chunk but the first
    for before, after in zip(chunks, chunks[1:]):
        lo, hi = before[-1]["end"], after[0]["start"]
        cut = (lo + hi) // 2 // ms * ms
        if cut < lo:
            cut = -(-lo // ms) * ms
        bounds.append(cut if cut <= hi else round((lo + hi) / 2 / ms) * ms)  # segments touching: the nearest ms
    n = max(1, math.ceil(duration / chunk_s))
    cuts = [0]
    for i in range(1, n):
        want = i * duration / n * SAMPLE_RATE
        best = min((b for b in bounds if b > cuts[-1]), key=lambda b: abs(b - want), default=None)
        if best is not None and best < total:
            cuts.append(best)
    cuts.append(total)
    return [(a / SAMPLE_RATE, b / SAMPLE_RATE,
             [[s["start"], s["end"]] for s in speech if a <= (s["start"] + s["end"]) / 2 < b])
            for a, b in zip(cuts, cuts[1:])]


# --- splitting ---------------------------------------------------------------------------------------------------

def split(transcript_id: int, key: str, duration: float) -> int:
    """Plan the parts of a claimed long transcript (or resume its plan after a retry) and enqueue them.

    Returns how many part jobs were enqueued."""
    settings = get_app().config["SCRIPTORIUM"]
    existing = db.session.scalars(select(TranscriptPart).where(TranscriptPart.transcript_id == transcript_id)
                                  .order_by(TranscriptPart.idx)).all()
    db.session.rollback()
    spans = None
    if not existing:  # the whole recording's VAD takes a while (~1 s per 2 min of audio): keep the row alive
        from worker.tasks import Heartbeat

        heart = Heartbeat(get_app(), transcript_id)
        heart.start()
        try:
            def stop_if_cancelled(fraction: float) -> None:
                if heart.cancelled.is_set():
                    raise JobCancelled()

            spans = plan(media_source(key), duration, settings.chunk_minutes * 60, stop_if_cancelled)
        finally:
            heart.stop()
    t = db.session.get(Transcript, transcript_id, with_for_update=True, populate_existing=True)
    if t is None or t.status != "running" or t.worker != _me():
        db.session.rollback()
        raise JobCancelled()
    if spans is not None:
        for i, (a, b, speech) in enumerate(spans):  # the part's speech waits in ``result`` until its own result
            db.session.add(TranscriptPart(transcript_id=t.id, idx=i, start=a, end=b, status="queued",
                                          result={"speech": speech}))
        db.session.flush()
    todo = db.session.scalars(select(TranscriptPart).where(
        TranscriptPart.transcript_id == t.id, TranscriptPart.status != "done").order_by(TranscriptPart.idx)).all()
    for p in todo:  # a retry runs again only the parts that did not finish, each with fresh attempts
        p.status, p.progress, p.attempts, p.error, p.worker = "queued", 0, 0, None, None
        part_service.name_job(p)
    t.worker, t.stage = part_service.PARTS_WORKER, "transcribe"
    part_service.refresh_progress(t.id)
    db.session.commit()
    if not todo:  # every part was done already (the merge failed): merge again
        part_service.enqueue_merge(t)
        return 0
    for p in todo:
        part_service.enqueue_part(p)
    log.info("transcript %s: %.0f s split into parts %s", transcript_id, duration,
             [(p.idx, round(p.start, 1), round(p.end, 1)) for p in todo])
    return len(todo)


# --- one part ----------------------------------------------------------------------------------------------------

class PartWatch(RowWatch):
    """A part's heartbeat and cancel watch: the part is still running and this worker's, and its parent transcript
    is still running (a cancel or delete of the transcript stops every part)."""

    def __init__(self, app, part_id: int, transcript_id: int):
        self.part_id, self.transcript_id = part_id, transcript_id
        mine = [TranscriptPart.id == part_id, TranscriptPart.status == "running", TranscriptPart.worker == _me(),
                exists().where(Transcript.id == transcript_id, Transcript.status == "running")]
        super().__init__(app, TranscriptPart, part_id, mine, f"part-{part_id}")


class PartProgress:
    """The pipeline's (stage, fraction) as the part's percentage, and the parent's audio-weighted progress."""

    def __init__(self, part_id: int, transcript_id: int, cancelled: threading.Event):
        self.part_id, self.transcript_id, self.cancelled = part_id, transcript_id, cancelled
        self.stage: str | None = None
        self.last = 0.0

    def __call__(self, stage: str, fraction: float = 0.0) -> None:
        if self.cancelled.is_set():
            raise JobCancelled()
        lo, hi = STAGE_SPAN.get(stage, (0, 100))
        pct = int(lo + (hi - lo) * min(max(fraction, 0.0), 1.0))
        now = time.monotonic()
        if stage == self.stage and now - self.last < 1.0:
            return
        self.stage, self.last = stage, now
        transient.retrying(lambda: self._write(min(pct, 99)))

    def _write(self, pct: int) -> None:
        db.session.rollback()
        db.session.execute(update(TranscriptPart).where(
            TranscriptPart.id == self.part_id, TranscriptPart.status == "running").values(progress=pct))
        part_service.refresh_progress(self.transcript_id)
        db.session.commit()


def transcribe_part(part_id: int) -> dict | None:
    """RQ entry point for one part."""
    with get_app().app_context():
        try:
            return _run_part(part_id)
        finally:
            db.session.remove()


def claim_part(part_id: int, job_id: str | None) -> bool:
    """Mark the part running for this job, only while it is queued under that job and its transcript runs."""
    cond = [TranscriptPart.id == part_id, TranscriptPart.status == "queued",
            exists().where(Transcript.id == TranscriptPart.transcript_id, Transcript.status == "running")]
    if job_id is not None:
        cond.append(TranscriptPart.rq_job_id == job_id)
    res = db.session.execute(update(TranscriptPart).where(*cond).values(
        status="running", progress=0, attempts=TranscriptPart.attempts + 1, worker=_me(), error=None,
        updated_at=datetime.now(timezone.utc)))
    db.session.commit()
    return res.rowcount == 1


def _run_part(part_id: int) -> dict | None:
    job = get_current_job()
    if not transient.retrying(lambda: claim_part(part_id, job.id if job else None)):
        log.info("part %s is gone, not queued, or its transcript stopped; nothing to do", part_id)
        return None
    part = db.session.get(TranscriptPart, part_id)
    t = db.session.get(Transcript, part.transcript_id)
    tid, idx, start, end = t.id, part.idx, part.start, part.end
    planned = (part.result or {}).get("speech")  # None for a part planned before the VAD plan: its own VAD runs
    key, options = t.media.storage_key, Options.from_dict(t.options)
    db.session.close()
    settings = get_app().config["SCRIPTORIUM"]
    watch = PartWatch(get_app(), part_id, tid)
    progress = PartProgress(part_id, tid, watch.cancelled)
    watch.start()
    try:
        from worker import audio, pipeline

        with tempfile.TemporaryDirectory(prefix="scriptorium-part-") as tmp:
            wav = Path(tmp) / "part.wav"
            progress("fetch", 0.0)
            transient.retrying(lambda: audio.extract_span(media_source(key), start, end - start, wav,
                                                          progress=lambda f: progress("fetch", f)))
            result = pipeline.transcribe(
                wav, options, progress=progress, device=settings.whisper_device,
                compute_type=settings.whisper_compute_type, default_model=settings.whisper_model,
                cpu_threads=settings.worker_threads, model_paths=settings.whisper_model_paths,
                speech=None if planned is None else part_speech(planned, start, end))
            prints = {}
            if options.diarize and result.speakers:
                from worker import voiceprints

                progress("diarize", 1.0)
                device, _ = pipeline.pick_device(settings.whisper_device, settings.whisper_compute_type)
                prints = voiceprints.speaker_embeddings(audio.load_audio(wav), result, device=device)
        data = _shifted(result, start)
        data["voiceprints"] = prints
        if transient.retrying(lambda: _finish(part_id, tid, data)):
            part_service.enqueue_merge(db.session.get(Transcript, tid))
        log.info("part %s (%d of transcript %s, %.0f-%.0f s) done", part_id, idx, tid, start, end)
        return {"segments": len(result.segments)}
    except JobCancelled:
        db.session.rollback()
        log.info("part %s of transcript %s stopped: the transcript was cancelled or deleted", idx, tid)
        return None
    except Exception as exc:
        reason = str(exc) if isinstance(exc, (MediaError, ModelNotAvailable)) else (
            f"internal error while {progress.stage or 'fetch'}: {type(exc).__name__}: {str(exc)[:300]}")
        final = isinstance(exc, (MediaError, ModelNotAvailable))  # the file or the model: another try cannot help
        try:
            transient.retrying(lambda: part_failed(part_id, reason, settings.job_attempts, final=final))
        except Exception:  # database down: the reaper finds the stale part
            log.exception("could not record the failure of part %s", part_id)
        raise
    finally:
        watch.stop()


def part_speech(planned: list[list[int]], start: float, end: float) -> list[dict]:
    """The planned speech segments (samples of the recording) on the part's own clock, inside the part."""
    from worker.audio import SAMPLE_RATE

    off, n = round(start * SAMPLE_RATE), round((end - start) * SAMPLE_RATE)
    out = [{"start": max(0, a - off), "end": min(n, b - off)} for a, b in planned]
    return [s for s in out if s["end"] > s["start"]]


def _shifted(result: TranscriptResult, offset: float) -> dict[str, Any]:
    """The part's result as plain data on the recording's clock."""
    for seg in result.segments:
        seg.start, seg.end = round(seg.start + offset, 3), round(seg.end + offset, 3)
        for w in seg.words:
            w.start, w.end = round(w.start + offset, 3), round(w.end + offset, 3)
    return result.to_dict()


def _finish(part_id: int, transcript_id: int, data: dict) -> bool:
    """Store the part's result; True when it was the last part (the caller then enqueues the merge)."""
    db.session.rollback()
    t = db.session.get(Transcript, transcript_id, with_for_update=True, populate_existing=True)
    part = db.session.get(TranscriptPart, part_id, populate_existing=True)
    if t is None or t.status != "running" or part is None or part.status != "running" or part.worker != _me():
        db.session.rollback()
        raise JobCancelled()
    part.status, part.progress, part.result = "done", 100, data
    db.session.flush()
    part_service.refresh_progress(transcript_id)
    left = db.session.scalar(select(TranscriptPart.id).where(
        TranscriptPart.transcript_id == transcript_id, TranscriptPart.status != "done").limit(1))
    if left is None:
        t.stage = "store"
    db.session.commit()
    return left is None


def part_failed(part_id: int, reason: str, max_attempts: int, final: bool = False) -> None:
    """Re-queue a failed part while it has attempts left; after that fail it and its transcript with the reason."""
    db.session.rollback()
    part = db.session.get(TranscriptPart, part_id, populate_existing=True)
    if part is None or part.status != "running" or part.worker != _me():
        db.session.rollback()
        return
    t = db.session.get(Transcript, part.transcript_id, with_for_update=True)
    retry = not final and part.attempts < max_attempts and t.status == "running"
    requeue_or_fail(t, part, reason, retry)
    db.session.commit()
    if retry:
        part_service.enqueue_part(part)


def requeue_or_fail(t: Transcript, part: TranscriptPart, reason: str, retry: bool) -> None:
    """The one place a part is re-queued (new job id; the caller commits, then enqueues) or fails its transcript."""
    part.worker, part.progress, part.error = None, 0, reason
    if retry:
        part.status = "queued"
        part_service.name_job(part)
        return
    part.status = "failed"
    if t.status == "running":
        t.status, t.finished_at = "failed", datetime.now(timezone.utc)
        t.error = f"part {part.idx + 1} ({_clock(part.start)}-{_clock(part.end)}) failed after " \
                  f"{part.attempts} attempts: {reason}"
        log.warning("transcript %s failed: %s", t.id, t.error)


def _clock(s: float) -> str:
    s = int(s)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


# --- the merge ---------------------------------------------------------------------------------------------------

def merge(transcript_id: int) -> dict | None:
    """RQ entry point: stitch the parts in order, cluster speakers across all of them, store in one transaction."""
    with get_app().app_context():
        try:
            return _merge(transcript_id)
        except Exception as exc:  # recorded on the row (retry merges again: every part is kept), then re-raised
            db.session.rollback()
            try:
                message = f"{type(exc).__name__}: {str(exc)[:300]}"
                transient.retrying(lambda: _merge_failed(transcript_id, message))
            except Exception:
                log.exception("could not record the failed merge of transcript %s", transcript_id)
            raise
        finally:
            db.session.remove()


def _merge_failed(transcript_id: int, reason: str) -> None:
    t = db.session.get(Transcript, transcript_id, with_for_update=True, populate_existing=True)
    if t is not None and t.status == "running" and t.worker == part_service.PARTS_WORKER:
        t.status, t.finished_at = "failed", datetime.now(timezone.utc)
        t.error = f"internal error while merging the parts: {reason}; retry it"
    db.session.commit()


def _merge(transcript_id: int) -> dict | None:
    job = get_current_job()
    started = time.monotonic()
    t = db.session.get(Transcript, transcript_id)
    if t is None or t.status != "running" or (job is not None and t.rq_job_id != job.id):
        return None
    options = Options.from_dict(t.options)
    parts = db.session.scalars(select(TranscriptPart).where(TranscriptPart.transcript_id == transcript_id)
                               .order_by(TranscriptPart.idx)).all()
    if not parts or any(p.status != "done" for p in parts):
        return None
    result = stitch([p.result for p in parts], options)
    result.timings = {"parts": len(parts), "merge": round(time.monotonic() - started, 3)}
    t = db.session.get(Transcript, transcript_id, with_for_update=True, populate_existing=True)
    if t is None or t.status != "running" or (job is not None and t.rq_job_id != job.id):
        db.session.rollback()
        return None
    elapsed = (datetime.now(timezone.utc) - t.started_at).total_seconds() if t.started_at else 0.0
    write_result(t, result, elapsed)
    t.worker = None
    db.session.execute(update(TranscriptPart).where(TranscriptPart.transcript_id == transcript_id)
                       .values(result=None))  # the transcript's rows hold it now
    db.session.commit()
    log.info("transcript %s merged from %d parts: %d segments, %d speakers", transcript_id, len(parts),
             len(result.segments), len(result.speakers))
    return {"segments": len(result.segments), "parts": len(parts)}


def stitch(results: list[dict], options: Options, threshold: float = SPEAKER_THRESHOLD) -> TranscriptResult:
    """One result from the parts' results (in order). Parts are cut in pauses and do not overlap, so their
    segments are concatenated as they are; speakers are relabelled from one clustering of every part's
    voiceprints (SPEAKER_00, SPEAKER_01, ... by first appearance)."""
    keys = [(i, label) for i, r in enumerate(results) for label in (r.get("voiceprints") or {})]
    vectors = [results[i]["voiceprints"][label] for i, label in keys]
    from worker import voiceprints

    groups = voiceprints.cluster(vectors, num_speakers=options.num_speakers, threshold=threshold)
    by_first: dict[int, float] = {}
    for (i, label), g in zip(keys, groups):
        first = min((s["start"] for s in results[i]["segments"] if s.get("speaker") == label), default=math.inf)
        by_first[g] = min(by_first.get(g, math.inf), first)
    rank = {g: n for n, g in enumerate(sorted(by_first, key=by_first.get))}
    relabel = {key: f"SPEAKER_{rank[g]:02d}" for key, g in zip(keys, groups)}

    segments: list[Segment] = []
    for i, r in enumerate(results):
        for s in r["segments"]:
            spk = relabel.get((i, s.get("speaker"))) if s.get("speaker") else None
            words = [Word(w["word"], w["start"], w["end"], w["score"],
                          relabel.get((i, w.get("speaker"))) if w.get("speaker") else None) for w in s["words"]]
            segments.append(Segment(s["start"], s["end"], s["text"], spk, words))
    first = results[0]
    probs = [r["language_probability"] for r in results if r.get("language_probability") is not None]
    return TranscriptResult(
        language=first["language"], duration=round(sum(r["duration"] for r in results), 3), segments=segments,
        model=first["model"], language_probability=max(probs) if probs else None,
        word_timing=next((r["word_timing"] for r in results if r["word_timing"] != "none"), "none"),
        diarization=next((r["diarization"] for r in results if r.get("diarization")), None),
        speakers=sorted(set(relabel.values())),
    )
