"""Jobs survive their workers: a killed worker's job is found and re-run, a lost queue entry is re-enqueued,
and a job is never run by two workers."""
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

from sqlalchemy import func, select, text, update

from jobhelpers import submit
from webapp.extensions import db
from webapp.models import Segment, Transcript



def _row(app, tid):
    with app.app_context():
        t = db.session.get(Transcript, tid)
        return None if t is None else {c: getattr(t, c) for c in ("status", "stage", "attempts", "error", "worker")}


def _age(app, tid, seconds=600, **values):
    with app.app_context():
        db.session.execute(update(Transcript).where(Transcript.id == tid).values(
            updated_at=datetime.now(timezone.utc) - timedelta(seconds=seconds), **values))
        db.session.commit()


def test_a_job_whose_worker_vanished_is_requeued_and_runs_once(app, client, auth, speech, run_jobs):
    from worker.reaper import reap

    tid = submit(client, auth, speech("A worker died while reading this sentence aloud."))
    # what a SIGKILLed worker leaves behind: running, claimed by a worker that no longer beats
    _age(app, tid, status="running", stage="transcribe", attempts=1, worker="gone-host:1")
    with app.app_context():
        assert reap(max_attempts=3) == {"requeued": [tid], "failed": [], "reenqueued": []}
    assert _row(app, tid)["status"] == "queued"
    run_jobs()
    row = _row(app, tid)
    assert row["status"] == "done" and row["attempts"] == 2 and row["error"] is None


def test_a_part_whose_worker_vanished_runs_again_before_the_jobs_queued_since(app, client, auth, speech):
    """A long recording's part re-queued by the reaper goes to the front of the queue: the recording's merge waits
    for it, and it had its turn already. At the back it would wait for everything submitted since."""
    from webapp import queue
    from webapp.models import TranscriptPart
    from webapp.services.parts import PARTS_WORKER
    from worker.reaper import reap

    long_one = submit(client, auth, speech("This stands in for a long recording split into parts."))
    later = submit(client, auth, speech("This was submitted while the part was running."))
    with app.app_context():
        t = db.session.get(Transcript, long_one)
        queue.get_queue().remove(t.rq_job_id)  # the split job has run: only its parts are left
        t.status, t.worker, t.stage = "running", PARTS_WORKER, "transcribe"
        db.session.add(TranscriptPart(transcript_id=long_one, idx=0, start=0.0, end=900.0, status="running",
                                      attempts=1, progress=40, worker="gone-host:1", rq_job_id="first-run",
                                      updated_at=datetime.now(timezone.utc) - timedelta(seconds=600)))
        db.session.commit()
        assert reap(max_attempts=3)["parts_requeued"]
        part = db.session.scalar(select(TranscriptPart).where(TranscriptPart.transcript_id == long_one))
        waiting = queue.get_queue().job_ids
        assert part.status == "queued" and waiting[0] == part.rq_job_id != "first-run"
        assert db.session.get(Transcript, later).rq_job_id in waiting[1:]


def test_a_job_that_keeps_killing_its_worker_fails_with_a_reason(app, client, auth, speech):
    from worker.reaper import reap

    from webapp.models import Webhook, WebhookDelivery

    tid = submit(client, auth, speech("This file always crashes the worker."))
    with app.app_context():  # the owner listens for failures (the delivery itself is tests/worker/test_webhooks.py)
        owner = db.session.get(Transcript, tid).owner_id
        db.session.add(Webhook(user_id=owner, url="https://hooks.example/failed", events=["transcript.failed"],
                               secret_enc="unused here"))
        db.session.commit()
    _age(app, tid, status="running", stage="diarize", attempts=3, worker="gone-host:1")
    with app.app_context():
        assert reap(max_attempts=3)["failed"] == [tid]
    row = _row(app, tid)
    assert row["status"] == "failed"
    assert "worker stopped while transcribing this file (3 times, last during diarize)" in row["error"]
    with app.app_context():  # the owner hears about it like any other failure
        sent = db.session.scalars(select(WebhookDelivery).where(WebhookDelivery.transcript_id == tid)).all()
        assert [d.event for d in sent] == ["transcript.failed"]


def test_a_queued_job_lost_by_redis_is_enqueued_again(app, client, auth, speech, run_jobs):
    from webapp.queue import connection
    from worker.reaper import reap

    tid = submit(client, auth, speech("Redis forgot about this job."))
    with app.app_context():
        connection().flushdb()  # Redis restarted without its append-only file
        _age(app, tid)
        assert reap(max_attempts=3)["reenqueued"] == [tid]
    run_jobs()
    assert _row(app, tid)["status"] == "done"


def test_a_stale_duplicate_rq_job_does_not_run_the_transcript_again(app, client, auth, speech, run_jobs):
    from webapp.queue import enqueue_transcription

    tid = submit(client, auth, speech("Only one of two deliveries may run."))
    with app.app_context():
        enqueue_transcription(tid, job_id="an-old-delivery")  # e.g. re-delivered after a restart
    run_jobs()
    with app.app_context():
        assert db.session.get(Transcript, tid).attempts == 1
        assert db.session.scalar(select(func.count()).select_from(Segment).where(Segment.transcript_id == tid)) >= 1


def test_sigkill_mid_job_then_a_new_worker_finishes_it(app, client, auth, speech, test_env, scratch_dir):
    text = " ".join(["The committee met on Tuesday to review the annual budget and the hiring plan."] * 6)
    tid = submit(client, auth, speech(text, name="long.wav"))
    env = dict(os.environ, **test_env, JOB_STALE_AFTER="3", PYTHONUNBUFFERED="1")
    logs = [open(scratch_dir / f"worker{i}.log", "w") for i in range(2)]
    first = subprocess.Popen([sys.executable, "-m", "scriptorium.cli", "worker"], env=env, stdout=logs[0],
                             stderr=subprocess.STDOUT)
    second = None
    try:
        deadline = time.monotonic() + 90
        while (row := _row(app, tid))["status"] != "running" or row["stage"] not in ("decode", "transcribe"):
            assert row["status"] in ("queued", "running") and time.monotonic() < deadline, row
            time.sleep(0.05)
        first.send_signal(signal.SIGKILL)
        first.wait()
        assert _row(app, tid)["status"] == "running"  # nobody told the database
        second = subprocess.Popen([sys.executable, "-m", "scriptorium.cli", "worker"], env=env, stdout=logs[1],
                                  stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while (row := _row(app, tid))["status"] != "done":
            assert row["status"] in ("running", "queued") and time.monotonic() < deadline, row
            time.sleep(0.2)
        assert row["attempts"] == 2
        with app.app_context():
            stored = db.session.scalars(select(Segment).where(Segment.transcript_id == tid)).all()
        assert "committee" in " ".join(s.text.lower() for s in stored)
        assert [s.idx for s in stored] == sorted({s.idx for s in stored})  # one result, not two
    finally:
        for proc in (first, second):
            if proc and proc.poll() is None:
                proc.terminate()
                proc.wait(30)
        for fh in logs:
            fh.close()


def _idle_in_transaction(engine) -> int:
    """Backends (other than ours) that sit inside an open transaction doing nothing."""
    with engine.connect() as conn:
        return conn.scalar(text("SELECT count(*) FROM pg_stat_activity WHERE state LIKE 'idle in transaction%' "
                                "AND pid <> pg_backend_pid() AND datname = current_database()"))


def test_no_transaction_stays_open_while_the_worker_downloads(app, client, auth, speech, run_jobs, monkeypatch):
    """A multi-gigabyte download takes minutes; a transaction open across it holds back vacuum and a pooled
    connection. The fetch is wrapped (not replaced) to look at pg_stat_activity while it runs."""
    from sqlalchemy import create_engine

    from worker import tasks

    seen: list[int] = []
    real_fetch = tasks._fetch
    watcher = create_engine(app.config["SCRIPTORIUM"].database_url)

    def fetch_and_look(settings, key, path):
        # the heartbeat's own statements are instantaneous: wait (briefly) for a moment when nothing is open
        deadline = time.monotonic() + 3
        while (n := _idle_in_transaction(watcher)) and time.monotonic() < deadline:
            time.sleep(0.05)
        seen.append(n)
        real_fetch(settings, key, path)

    monkeypatch.setattr(tasks, "_fetch", fetch_and_look)
    tid = submit(client, auth, speech("Nothing waits on an open transaction while this downloads."))
    try:
        run_jobs()
    finally:
        watcher.dispose()
    assert seen == [0]
    assert _row(app, tid)["status"] == "done"
