"""Cancel and delete reach a job that a real worker process is running, at any stage: it stops within a few
seconds, stores nothing, recreates nothing, and the worker goes on to the next job.

A SimpleWorker cannot be stopped from outside (RQ's stop command does nothing to it), so the worker watches the
row and every stage reports progress several times a second; the bound below is what a user waits for.

Both tests use one `scriptorium worker` process (it loads its model once, ~7 s), started before the first and
stopped after the last; the per-test `app` fixture empties the tables and Redis between them while it waits idle."""
import os
import subprocess
import sys
import time

import pytest
from sqlalchemy import create_engine, func, select, text

from jobhelpers import submit
from webapp.extensions import db
from webapp.models import Media, Segment, Speaker, Transcript, Word

LONG = " ".join(["The committee met on Tuesday to review the annual budget and the hiring plan."] * 14)
LONG_TOO = " ".join(["Delegates argued about the harbour, the railway and the price of bread all night."] * 14)
HOUR_COPIES = 45  # ~80 s of speech, 45 times: an hour of audio that takes seconds to decode
CANCEL_BOUND_S = 5.0


def _row(app, tid):
    with app.app_context():
        t = db.session.get(Transcript, tid)
        return None if t is None else {"status": t.status, "stage": t.stage, "key": t.media.storage_key}


def _stored(app, tid):
    """How many segment, word and speaker rows the transcript has."""
    with app.app_context():
        return [db.session.scalar(select(func.count()).select_from(model).where(model.transcript_id == tid))
                for model in (Segment, Word, Speaker)]


def _wait(app, tid, statuses, seconds, allowed=("queued", "running")):
    deadline = time.monotonic() + seconds
    while (row := _row(app, tid))["status"] not in statuses:
        assert row["status"] in allowed and time.monotonic() < deadline, row
        time.sleep(0.02)
    return row


def _wait_stage(app, tid, stage, seconds=180):
    deadline = time.monotonic() + seconds
    while (row := _row(app, tid))["status"] != "running" or row["stage"] != stage:
        assert row["status"] in ("queued", "running") and time.monotonic() < deadline, row
        time.sleep(0.02)


def _cancel_and_time(app, client, auth, tid, next_tid):
    """Cancel ``tid``; seconds until the worker has let go of it and started ``next_tid``."""
    resp = client.post(f"/api/v1/transcripts/{tid}/cancel", headers=auth)
    assert resp.status_code == 200 and resp.get_json()["status"] == "cancelled"
    cancelled_at = time.monotonic()
    _wait(app, next_tid, {"running", "done"}, 60, allowed=("queued",))
    return time.monotonic() - cancelled_at


def _long_mp3(ffmpeg, wav, out):
    """An hour of MP3 made cheaply: MP3 frames stand alone, so copies of one short encoding play as one file."""
    part = out.with_suffix(".part.mp3")
    subprocess.run([ffmpeg, "-y", "-v", "error", "-i", str(wav), "-ac", "1", "-c:a", "libmp3lame", "-b:a", "16k",
                    str(part)], check=True)
    out.write_bytes(part.read_bytes() * HOUR_COPIES)
    return out


def _idle_in_transaction_s(url):
    """The longest time any other backend has sat idle inside an open transaction, in seconds."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.scalar(text(
                "SELECT coalesce(max(extract(epoch FROM now() - state_change)), 0) FROM pg_stat_activity "
                "WHERE state LIKE 'idle in transaction%' AND pid <> pg_backend_pid()"))
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def worker_process(_session_app, test_env, scratch_dir):
    """A real `scriptorium worker` process for this module's tests."""
    # CHUNK_MINUTES above the hour: these tests are about the single-job path (tests/worker/test_parts.py cancels
    # parts)
    env = dict(os.environ, **test_env, PYTHONUNBUFFERED="1", CHUNK_MINUTES="120")
    log = open(scratch_dir / "cancel-worker.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "scriptorium.cli", "worker"], env=env, stdout=log,
                            stderr=subprocess.STDOUT)
    try:
        yield proc
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()


def test_cancel_stops_a_running_job_at_every_stage(app, client, auth, speech, scratch_dir, ffmpeg, worker_process):
    long_wav = speech(LONG, name="cancel-long.wav")
    hour = submit(client, auth, _long_mp3(ffmpeg, long_wav, scratch_dir / "cancel-hour.mp3"))
    asr = submit(client, auth, long_wav)
    diar = submit(client, auth, long_wav, diarize="true")
    last = submit(client, auth, speech("The next job still runs after a cancel.", name="cancel-next.wav"))
    latency = {}
    _wait_stage(app, hour, "decode")
    latency["decode"] = _cancel_and_time(app, client, auth, hour, asr)

    _wait_stage(app, asr, "transcribe")
    assert _idle_in_transaction_s(app.config["SCRIPTORIUM"].database_url) < 1.0  # nothing held open meanwhile
    latency["transcribe"] = _cancel_and_time(app, client, auth, asr, diar)

    _wait_stage(app, diar, "diarize")
    latency["diarize"] = _cancel_and_time(app, client, auth, diar, last)

    assert _wait(app, last, {"done"}, 120)["status"] == "done"
    print("cancel latency (cancel answered -> worker running the next job): "
          + ", ".join(f"{stage} {s:.2f} s" for stage, s in latency.items()))
    for tid in (hour, asr, diar):
        assert _row(app, tid)["status"] == "cancelled" and _stored(app, tid) == [0, 0, 0]
    assert _stored(app, last)[0] >= 1
    assert all(s < CANCEL_BOUND_S for s in latency.values()), latency
    assert worker_process.poll() is None  # still serving


def test_delete_a_running_job(app, client, auth, speech, worker_process):
    long_c = submit(client, auth, speech(LONG_TOO, name="delete-long.wav"))
    # Delete while it transcribes: rows and stored media go, and the worker does not bring them back.
    key = _row(app, long_c)["key"]
    _wait_stage(app, long_c, "transcribe")
    assert client.delete(f"/api/v1/transcripts/{long_c}", headers=auth).status_code == 204
    after = submit(client, auth, speech("Deleted jobs stay deleted.", name="delete-next.wav"))
    assert _wait(app, after, {"done"}, 180)["status"] == "done"  # the worker let go of the deleted job
    with app.app_context():
        assert db.session.get(Transcript, long_c) is None
        assert db.session.scalar(select(func.count()).select_from(Media).where(Media.storage_key == key)) == 0
        from webapp.storage import from_settings
        assert from_settings(app.config["SCRIPTORIUM"]).size(key) is None
    assert _stored(app, long_c) == [0, 0, 0]
    assert worker_process.poll() is None  # still serving
