"""Acting on a job from outside the worker: retry, cancel, delete."""
from __future__ import annotations

import logging
from datetime import datetime, timezone

from flask import current_app
from rq.job import Job
from sqlalchemy import func, select

from webapp import queue, storage
from webapp.extensions import db
from webapp.models import Transcript
from webapp.services.submit import requeue

log = logging.getLogger("scriptorium.jobs")


def retry(t: Transcript) -> None:
    requeue(t)


def _stop_rq_job(t: Transcript) -> None:
    """Take a job that has not started off the queue. A running job needs nothing here: RQ's stop command
    does nothing to the SimpleWorker we run (no child process to kill), so the worker instead watches the row
    (twice a second) and its job stops at its next progress call once the row says cancelled or is gone."""
    if not t.rq_job_id:
        return
    conn = queue.connection()
    try:
        job = Job.fetch(t.rq_job_id, connection=conn)
    except Exception:
        return
    if job.get_status(refresh=True) in ("queued", "deferred", "scheduled"):
        job.cancel()


def cancel(t: Transcript) -> None:
    """Stop a queued or running job; a finished one is left as it is."""
    if not t.active:
        return
    t.status, t.stage, t.error = "cancelled", None, "cancelled by a user"
    t.finished_at = datetime.now(timezone.utc)
    db.session.commit()
    _stop_rq_job(t)


def delete(t: Transcript) -> None:
    """Remove the transcript, and its media when no other transcript uses it."""
    cancel(t)
    media = t.media
    db.session.delete(t)
    db.session.flush()
    others = db.session.scalar(select(func.count()).select_from(Transcript).where(Transcript.media_id == media.id))
    key = None
    if not others:
        key = media.storage_key
        db.session.delete(media)
    db.session.commit()
    if key:
        storage.from_settings(current_app.config["SCRIPTORIUM"]).delete(key)
