"""A long recording's parts seen from the web side: counts for the API, the audio-weighted progress, and putting
part jobs on the queue or taking them off it. No ffmpeg or torch here (the worker plans the cuts)."""
from __future__ import annotations

import uuid

from rq.job import Job
from sqlalchemy import case, func, select, update

from webapp import queue
from webapp.extensions import db
from webapp.models import Transcript, TranscriptPart

PART_TASK = "worker.parts.transcribe_part"
MERGE_TASK = "worker.parts.merge"
PARTS_WORKER = "parts"  # the parent's ``worker`` while its parts run: no single process holds it


def counts(transcript_id: int) -> dict[str, int]:
    """{"total", "done", "running"} for the API (all zero for a file that took the single-job path)."""
    row = db.session.execute(select(
        func.count(), func.count().filter(TranscriptPart.status == "done"),
        func.count().filter(TranscriptPart.status == "running"),
    ).where(TranscriptPart.transcript_id == transcript_id)).one()
    return {"total": row[0], "done": row[1], "running": row[2]}


def weighted_progress_sql(transcript_id: int):
    """The parent's progress as SQL: each part's progress weighted by its length of audio (done parts count 100)."""
    pct = case((TranscriptPart.status == "done", 100), else_=TranscriptPart.progress)
    length = TranscriptPart.end - TranscriptPart.start
    return (select(func.coalesce(func.floor(func.sum(length * pct) / func.nullif(func.sum(length), 0)), 0))
            .where(TranscriptPart.transcript_id == transcript_id).scalar_subquery())


def refresh_progress(transcript_id: int) -> None:
    """Write the audio-weighted progress onto the parent row (the caller commits)."""
    db.session.execute(update(Transcript).where(Transcript.id == transcript_id, Transcript.status == "running")
                       .values(progress=weighted_progress_sql(transcript_id)))


def name_job(part: TranscriptPart) -> str:
    """Give the part a new RQ job id (committed by the caller before ``enqueue_part``)."""
    part.rq_job_id = uuid.uuid4().hex
    return part.rq_job_id


def enqueue_part(part: TranscriptPart, at_front: bool = False) -> None:
    """Put the part's named job on the queue; its timeout follows the part's length, not the recording's.
    ``at_front``: a part taken again after its worker died (its recording's merge waits for it; it had its turn)."""
    queue.get_queue().enqueue(
        PART_TASK, part.id, job_id=part.rq_job_id, job_timeout=queue.timeout_for(part.length),
        failure_ttl=queue.FAILURE_TTL, result_ttl=queue.RESULT_TTL, at_front=at_front,
        description=f"transcribe part {part.idx} of transcript {part.transcript_id}")


def enqueue_merge(t: Transcript) -> None:
    """Name the merge job on the parent row, commit, then enqueue it (the merge runs only under that name)."""
    t.rq_job_id = uuid.uuid4().hex
    db.session.commit()
    queue.get_queue().enqueue(MERGE_TASK, t.id, job_id=t.rq_job_id, job_timeout=queue.timeout_for(None),
                              failure_ttl=queue.FAILURE_TTL, result_ttl=queue.RESULT_TTL,
                              description=f"merge the parts of transcript {t.id}")


def stop(t: Transcript) -> None:
    """After a cancel: mark the unfinished parts cancelled and take their jobs off the queue. Running parts stop
    by themselves (their heartbeat watches the parent row)."""
    parts = db.session.scalars(select(TranscriptPart).where(
        TranscriptPart.transcript_id == t.id, TranscriptPart.status.in_(("queued", "running")))).all()
    job_ids = [p.rq_job_id for p in parts if p.rq_job_id]
    for p in parts:
        p.status = "cancelled"
    db.session.commit()
    for job_id in job_ids:
        try:
            job = Job.fetch(job_id, connection=queue.connection())
            if job.get_status(refresh=True) in ("queued", "deferred", "scheduled"):
                job.cancel()
        except Exception:  # gone already, or Redis down: the part's claim refuses a cancelled part anyway
            pass
