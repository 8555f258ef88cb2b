"""Finds jobs that nobody is working on any more and puts them right, without a person touching the database.

* ``running`` with no heartbeat for ``stale_after`` seconds: its worker died (SIGKILL, reboot, OOM). Re-queued,
  or failed with a reason once it has used its attempts.
* ``queued`` whose RQ job no longer exists (Redis lost it, or the enqueue never happened): enqueued again.

Every worker process runs this every few seconds; a PostgreSQL advisory lock lets one act at a time.
"""
from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta, timezone

from rq.job import Job
from sqlalchemy import select, text

from webapp import queue
from webapp.extensions import db
from webapp.models import Transcript, TranscriptPart
from webapp.services.parts import PARTS_WORKER

log = logging.getLogger("scriptorium.reaper")
LOCK_ID = 727275
STALE_AFTER = 30.0  # seconds without a heartbeat (beats come every 5 s)
ORPHAN_AFTER = 30.0  # seconds a queued row may go without its RQ job before it is enqueued again


def _missing_jobs(job_ids: list[str]) -> set[str]:
    """Which of these RQ job ids Redis no longer knows: one pipelined round trip for all of them."""
    if not job_ids:
        return set()
    pipe = queue.connection().pipeline(transaction=False)
    for job_id in job_ids:
        pipe.exists(Job.key_for(job_id))
    return {job_id for job_id, found in zip(job_ids, pipe.execute()) if not found}


def reap(max_attempts: int, stale_after: float = STALE_AFTER, orphan_after: float = ORPHAN_AFTER) -> dict[str, list[int]]:
    """One pass. Returns the transcript ids it re-queued, failed and re-enqueued.

    Gather first, lock briefly: the queued rows that look orphaned are read without locks and their RQ jobs
    checked in one Redis pipeline; only then are the advisory lock and row locks taken, for a few UPDATEs that
    re-check each row's state, so no lock is held across a Redis call.
    """
    from webapp.services.submit import enqueue

    done: dict[str, list[int]] = {"requeued": [], "failed": [], "reenqueued": []}
    now = datetime.now(timezone.utc)
    orphan_cutoff = now - timedelta(seconds=orphan_after)
    candidates = db.session.execute(select(Transcript.id, Transcript.rq_job_id).where(
        Transcript.status == "queued", Transcript.updated_at < orphan_cutoff)).all()
    db.session.rollback()  # no transaction open across the Redis call
    missing = _missing_jobs([job_id for _, job_id in candidates if job_id])
    orphan_ids = {tid: job_id for tid, job_id in candidates if not job_id or job_id in missing}

    if not db.session.scalar(text(f"SELECT pg_try_advisory_xact_lock({LOCK_ID})")):
        db.session.rollback()
        return done
    stale = db.session.scalars(select(Transcript).where(
        Transcript.status == "running", Transcript.updated_at < now - timedelta(seconds=stale_after),
        Transcript.worker.is_distinct_from(PARTS_WORKER),  # its parts have their own heartbeats (below)
    ).with_for_update(skip_locked=True)).all()
    for t in stale:
        if t.attempts >= max_attempts:
            t.status, t.finished_at = "failed", now
            t.error = (f"the worker stopped while transcribing this file ({t.attempts} times, last during "
                       f"{t.stage or 'start-up'}); it may be too large for the worker's memory. Retry to try again")
            done["failed"].append(t.id)
        else:
            t.error = f"the worker stopped during {t.stage or 'start-up'}; trying again"
            t.status, t.stage, t.progress, t.worker = "queued", None, 0, None
            done["requeued"].append(t.id)
    if orphan_ids:
        orphans = db.session.scalars(select(Transcript).where(
            Transcript.id.in_(list(orphan_ids)), Transcript.status == "queued", Transcript.updated_at < orphan_cutoff,
        ).with_for_update(skip_locked=True)).all()
        for t in orphans:  # still queued, still stale, and still under the job id that Redis did not have
            if t.rq_job_id == orphan_ids[t.id]:
                done["reenqueued"].append(t.id)
                t.updated_at = now
    db.session.commit()  # also releases the advisory lock
    if done["failed"]:
        from worker.tasks import _finished

        for tid in done["failed"]:  # counted and announced (transcript.failed webhooks) like any other failure
            _finished(tid, "failed", None)
    for tid in done["requeued"] + done["reenqueued"]:
        t = db.session.get(Transcript, tid)
        if t is not None and t.status == "queued":
            enqueue(t)
    db.session.rollback()
    done.update({k: v for k, v in reap_parts(max_attempts, stale_after, orphan_after).items() if v})
    if any(done.values()):
        log.warning("reaper: %s", {k: v for k, v in done.items() if v})
    return done


def reap_parts(max_attempts: int, stale_after: float = STALE_AFTER,
               orphan_after: float = ORPHAN_AFTER) -> dict[str, list[int]]:
    """The same care for the parts of long recordings (issue 11): a running part with no heartbeat is re-queued
    alone (or fails its transcript after its attempts); a queued part, or a merge, whose RQ job Redis lost is
    enqueued again. Returns part ids (and transcript ids under "remerged")."""
    from webapp.services import parts as part_service
    from worker.parts import requeue_or_fail

    done: dict[str, list[int]] = {"parts_requeued": [], "parts_failed": [], "parts_reenqueued": [], "remerged": []}
    now = datetime.now(timezone.utc)
    cutoff = now - timedelta(seconds=orphan_after)
    queued = db.session.execute(select(TranscriptPart.id, TranscriptPart.rq_job_id).where(
        TranscriptPart.status == "queued", TranscriptPart.updated_at < cutoff)).all()
    merging = db.session.execute(select(Transcript.id, Transcript.rq_job_id).where(
        Transcript.status == "running", Transcript.worker == PARTS_WORKER, Transcript.stage == "store",
        Transcript.updated_at < cutoff)).all()
    db.session.rollback()
    missing = _missing_jobs([j for _, j in queued + merging if j])
    orphans = {pid for pid, j in queued if not j or j in missing}
    lost_merges = {tid: j for tid, j in merging if not j or j in missing}

    stale = db.session.scalars(select(TranscriptPart).where(
        TranscriptPart.status == "running", TranscriptPart.updated_at < now - timedelta(seconds=stale_after),
    ).with_for_update(skip_locked=True)).all()
    enqueue_parts = []
    for part in stale:
        t = db.session.get(Transcript, part.transcript_id, with_for_update=True)
        if t is None or t.status != "running":  # its transcript failed or was cancelled: nothing to run again
            part.status, part.worker, part.progress = "cancelled", None, 0
            continue
        retry = part.attempts < max_attempts
        requeue_or_fail(t, part, f"the worker stopped during part {part.idx + 1} ({part.attempts} times)", retry)
        (done["parts_requeued"] if retry else done["parts_failed"]).append(part.id)
        if retry:
            enqueue_parts.append(part)
    for part in db.session.scalars(select(TranscriptPart).where(
            TranscriptPart.id.in_(list(orphans)), TranscriptPart.status == "queued",
            TranscriptPart.updated_at < cutoff).with_for_update(skip_locked=True)).all():
        part.updated_at = now
        enqueue_parts.append(part)
        done["parts_reenqueued"].append(part.id)
    db.session.commit()
    for part in enqueue_parts:  # at the front: they had their turn, and their recordings' merges wait for them
        part_service.enqueue_part(part, at_front=True)
    for tid in lost_merges:
        t = db.session.get(Transcript, tid, with_for_update=True, populate_existing=True)
        if (t is not None and t.status == "running" and t.worker == PARTS_WORKER and t.stage == "store"
                and t.rq_job_id == lost_merges[tid]):  # not enqueued again meanwhile by another worker's reaper
            part_service.enqueue_merge(t)  # commits
            done["remerged"].append(tid)
    db.session.rollback()
    return done


class Reaper(threading.Thread):
    """Runs ``reap`` every ``interval`` seconds inside a worker process."""

    def __init__(self, app, interval: float | None = None):
        super().__init__(name="reaper", daemon=True)
        self.app = app
        self.interval = interval or max(1.0, app.config["SCRIPTORIUM"].job_stale_after / 3)
        self._stop_event = threading.Event()

    def run(self) -> None:
        settings = self.app.config["SCRIPTORIUM"]
        while not self._stop_event.wait(self.interval):
            try:
                with self.app.app_context():
                    reap(settings.job_attempts, stale_after=settings.job_stale_after,
                         orphan_after=settings.job_stale_after)
                    db.session.remove()
            except Exception as exc:  # database or Redis down: try again next round
                log.warning("reaper pass failed: %s", exc)

    def stop(self) -> None:
        self._stop_event.set()
