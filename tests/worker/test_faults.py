"""Faults with real processes: Redis killed with jobs queued, PostgreSQL restarted under a running worker, the S3
endpoint refusing connections for a while. Every job still ends done, once."""
import dataclasses
import logging
import os
import subprocess
import sys
import time

import pytest
from sqlalchemy import func, select

from jobhelpers import submit
from webapp.extensions import db
from webapp.models import Segment, Transcript


def wait_until(condition, timeout: float, what: str, interval: float = 0.05):
    """Poll ``condition`` until it returns something truthy (returned) or ``timeout`` seconds pass (fail)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"waited {timeout:.0f} s for {what}"
        time.sleep(interval)


def _statuses(app):
    with app.app_context():
        db.session.expire_all()
        return {t.id: t.status for t in db.session.scalars(select(Transcript))}


def test_redis_killed_with_20_jobs_queued_loses_none(app, auth, speech, scratch_dir, run_jobs):
    from webapp import create_app
    from scriptorium.embedded import EmbeddedRedis, free_port

    redis = EmbeddedRedis(scratch_dir / "redis-aof", free_port(), appendonly=True)
    redis.start()
    try:
        settings = dataclasses.replace(app.config["SCRIPTORIUM"], redis_url=redis.url)
        app2 = create_app({"TESTING": True}, settings=settings)
        client = app2.test_client()
        words = ["apple", "river", "garden", "window", "candle", "forest", "silver", "market", "winter", "pencil"]
        ids = [submit(client, auth, speech(f"{words[i % 10]} number {i}", name=f"job{i}.wav")) for i in range(20)]
        # appendfsync everysec acknowledges before writing; once Redis's AOF buffer is empty every job is in the
        # file (a killed process loses its own buffer, not the kernel's), so the crash below must lose none.
        from redis import Redis

        with Redis.from_url(redis.url) as probe:
            wait_until(lambda: probe.info("persistence")["aof_buffer_length"] == 0, 10, "the AOF to be written")
        redis.proc.kill()  # a crash, not a clean shutdown
        redis.proc.wait()
        redis.start()
        run_jobs(app2)
        assert _statuses(app) == {i: "done" for i in ids}
        with app.app_context():
            attempts = db.session.scalars(select(Transcript.attempts)).all()
        assert attempts == [1] * 20  # each ran exactly once
    finally:
        redis.stop()


def _worker(test_env, log_path):
    env = dict(os.environ, **test_env, JOB_STALE_AFTER="20", PYTHONUNBUFFERED="1")
    return subprocess.Popen([sys.executable, "-m", "scriptorium.cli", "worker"], env=env, stdout=open(log_path, "w"),
                            stderr=subprocess.STDOUT)


def _transcript(app, tid):
    with app.app_context():
        t = db.session.get(Transcript, tid, populate_existing=True)
        db.session.expunge(t)
        return t


def test_postgres_restarted_under_a_running_worker(app, client, auth, speech, pg_server, test_env, scratch_dir):
    if pg_server is None:
        pytest.skip("PostgreSQL is not ours to restart (TEST_DATABASE_URL)")
    text = " ".join(["Our reporter waited outside the courthouse for the verdict to be read."] * 6)
    tid = submit(client, auth, speech(text, name="pg-restart.wav"))
    log = scratch_dir / "worker-pg.log"
    worker = _worker(test_env, log)
    try:
        def mid_job():
            t = _transcript(app, tid)
            assert t.status in ("queued", "running"), (t.status, t.error)
            return t.status == "running" and t.stage in ("decode", "transcribe")

        wait_until(mid_job, 90, "the worker to be decoding or transcribing")
        pg_server.stop("fast")  # drops every connection
        # Down until the worker has met the outage (its heartbeat, every 5 s here, fails), not for a guessed time.
        wait_until(lambda: f"heartbeat for transcript {tid} failed" in log.read_text(), 30,
                   "the worker to notice PostgreSQL is down")
        pg_server.start()

        def finished():
            t = _transcript(app, tid)
            return t if t.status not in ("queued", "running") else None

        t = wait_until(finished, 120, "the job to finish")
        assert t.status == "done", (t.status, t.error, log.read_text()[-2000:])
        assert t.attempts == 1
        # /healthz is truthful again
        assert client.get("/healthz").status_code == 200
    finally:
        worker.terminate()
        worker.wait(30)


def test_storage_refusing_connections_for_a_while_is_retried(app, client, auth, speech, s3_server, run_jobs):
    if s3_server is None:
        pytest.skip("the S3 endpoint is not ours to stop (TEST_S3_ENDPOINT)")
    tid = submit(client, auth, speech("The bucket was away for a moment.", name="s3-outage.wav"))
    s3_server.stop()
    assert client.get("/healthz").get_json()["storage"].startswith("down")

    class BackOnceRefused(logging.Handler):
        """The endpoint comes back as soon as the worker has met the outage and said it will try again."""
        met = 0

        def emit(self, record):
            if "transient error" in record.getMessage():
                self.met += 1
                if self.met == 1:
                    s3_server.start()

    watcher = BackOnceRefused()
    logging.getLogger("scriptorium.worker").addHandler(watcher)
    try:
        run_jobs()  # the fetch meets "connection refused", backs off, and succeeds once the endpoint is back
    finally:
        logging.getLogger("scriptorium.worker").removeHandler(watcher)
    assert watcher.met >= 1, "the fetch never met the outage"
    with app.app_context():
        t = db.session.get(Transcript, tid)
        assert (t.status, t.attempts) == ("done", 1), t.error
        assert db.session.scalar(select(func.count()).select_from(Segment).where(Segment.transcript_id == tid)) >= 1
