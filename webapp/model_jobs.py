"""Model installs as background jobs for the admin Models page: the same code as `scriptorium models install`.

A worker runs ``install_model`` (it imports no torch), reporting bytes done in the RQ job's meta; the page reads
the jobs back from RQ's registries. Install progress is transient admin state, so it lives with the job in Redis
rather than in a table. The models directory must be the one the workers read (one machine, or a shared volume).
"""
from __future__ import annotations

import hashlib
import time

from rq import get_current_job
from rq.exceptions import NoSuchJobError
from rq.job import Job
from rq.registry import FailedJobRegistry, FinishedJobRegistry, StartedJobRegistry
from sqlalchemy import func, select

from webapp import model_hub
from webapp.extensions import db
from webapp.models.transcript import ACTIVE, Transcript
from webapp.queue import connection, get_queue

PREFIX = "model-install-"


def job_id(name: str) -> str:
    return PREFIX + hashlib.sha1(name.encode()).hexdigest()[:16]


def enqueue_install(name: str) -> str:
    """Queue an install (once: a queued or running install of the same name is reused); HubError for a bad name."""
    model_hub.plan(name)  # an unknown name is refused here, not in the worker
    jid = job_id(name)
    try:
        job = Job.fetch(jid, connection=connection())
    except NoSuchJobError:
        job = None
    if job is not None:
        if job.get_status(refresh=False) in ("queued", "started", "deferred", "scheduled"):
            return jid
        job.delete()  # a finished or failed install of the same name: start afresh
    get_queue().enqueue("webapp.model_jobs.install_model", name, job_id=jid, job_timeout=6 * 3600,
                        result_ttl=3600, failure_ttl=24 * 3600, meta={"model": name, "done": 0, "total": 0})
    return jid


def install_model(name: str) -> str:
    """The job: fetch and verify ``name``, saving progress at most twice a second."""
    job = get_current_job()
    last = [0.0]

    def progress(done: int, total: int) -> None:
        now = time.monotonic()
        if job is not None and (now - last[0] > 0.5 or done == total):
            last[0] = now
            job.meta.update(done=done, total=total)
            job.save_meta()

    return str(model_hub.install(name, progress=progress))


def install_jobs() -> list[dict]:
    """Model installs the queue knows of (queued, running, done in the last hour, failed in the last day)."""
    q, conn = get_queue(), connection()
    ids = list(q.job_ids)
    for registry in (StartedJobRegistry, FinishedJobRegistry, FailedJobRegistry):
        ids += registry(queue=q).get_job_ids()
    out = []
    for job in Job.fetch_many([i for i in dict.fromkeys(ids) if i.startswith(PREFIX)], connection=conn):
        if job is None:
            continue
        status = job.get_status(refresh=False)
        error = None
        if status == "failed":
            tail = (job.latest_result().exc_string if job.latest_result() else "") or ""
            error = tail.strip().splitlines()[-1].split(": ", 1)[-1] if tail.strip() else "failed"
        meta = job.meta or {}
        out.append({"name": meta.get("model", job.args[0] if job.args else "?"), "status": status, "error": error,
                    "done": meta.get("done", 0), "total": meta.get("total", 0)})
    return sorted(out, key=lambda j: j["name"])


def use_counts() -> dict[str, int]:
    """Transcripts per model name."""
    rows = db.session.execute(select(Transcript.model, func.count()).group_by(Transcript.model))
    return {m: n for m, n in rows if m}


def waiting_jobs(name: str) -> int:
    """Queued or running transcripts that name this model (removing it would fail them)."""
    return db.session.scalar(select(func.count()).select_from(Transcript).where(
        Transcript.model == name, Transcript.status.in_(ACTIVE))) or 0


def remove(name: str) -> None:
    """Remove an installed model unless a queued or running job names it; HubError says why not."""
    n = waiting_jobs(name)
    if n:
        raise model_hub.HubError(f"{name} is not removed: {n} queued or running transcript(s) use it; "
                                 "remove it when they are done")
    model_hub.remove(name)
