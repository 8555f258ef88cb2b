"""Acting on a job from outside the worker: retry, cancel, delete."""
from __future__ import annotations

import logging
from datetime import datetime, timezone

from rq.job import Job
from sqlalchemy import func, select

from webapp import queue, storage
from webapp.extensions import db
from webapp.models import Media, Transcript
from webapp.services import parts
from webapp.services.submit import lock_content, requeue

log = logging.getLogger("scriptorium.jobs")


def retry(t: Transcript) -> None:
    """Run it again; a long recording keeps its finished parts and runs only the others (worker.parts.split)."""
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
    parts.stop(t)  # a long recording's part jobs too (running ones watch the row and stop by themselves)


def delete(t: Transcript) -> None:
    """Remove the transcript, and its media (row and bytes) when no other transcript uses it.

    Under the content's lock (``submit.lock_content``): an identical upload at the same moment either attached
    before (the media stays) or comes after (it finds no row and stores the bytes anew). The bytes go while the
    lock is held, so they never vanish from under an upload that has just counted on them.
    """
    cancel(t)
    lock_content(t.media.sha256)
    media = db.session.scalar(  # as it is now, under the lock (an upload may have just stored its bytes again)
        select(Media).where(Media.id == t.media_id).execution_options(populate_existing=True))
    db.session.delete(t)
    db.session.flush()
    others = db.session.scalar(select(func.count()).select_from(Transcript).where(Transcript.media_id == media.id))
    if not others:
        if media.storage_key:
            storage.get().delete(media.storage_key)
        db.session.delete(media)
    db.session.commit()
