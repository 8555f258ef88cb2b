"""Cancel and delete reach a job that a real worker process is running: it stops promptly, stores nothing,
recreates nothing, and goes on to the next job."""
import os
import subprocess
import sys
import time

from sqlalchemy import func, select

from jobhelpers import submit
from webapp.extensions import db
from webapp.models import Media, Segment, Speaker, Transcript, Word

LONG = " ".join(["The committee met on Tuesday to review the annual budget and the hiring plan."] * 14)
LONG_TOO = " ".join(["Delegates argued about the harbour, the railway and the price of bread all night."] * 14)



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
        time.sleep(0.05)
    return row


def _wait_running(app, tid, seconds=120):
    deadline = time.monotonic() + seconds
    while (row := _row(app, tid))["status"] != "running" or row["stage"] != "transcribe":
        assert row["status"] in ("queued", "running") and time.monotonic() < deadline, row
        time.sleep(0.05)


def test_cancel_and_delete_a_running_job(app, client, auth, speech, test_env, scratch_dir):
    long_a = submit(client, auth, speech(LONG, name="cancel-long.wav"))
    next_b = submit(client, auth, speech("The next job still runs after a cancel.", name="cancel-next.wav"))
    env = dict(os.environ, **test_env, PYTHONUNBUFFERED="1")
    log = open(scratch_dir / "cancel-worker.log", "w")
    worker = subprocess.Popen([sys.executable, "-m", "scriptorium.cli", "worker"], env=env, stdout=log,
                              stderr=subprocess.STDOUT)
    try:
        # Cancel while it transcribes: cancelled at once, the worker lets go within seconds and runs the next.
        _wait_running(app, long_a)
        resp = client.post(f"/api/v1/transcripts/{long_a}/cancel", headers=auth)
        assert resp.status_code == 200 and resp.get_json()["status"] == "cancelled"
        cancelled_at = time.monotonic()
        _wait(app, next_b, {"running", "done"}, 10, allowed=("queued",))
        let_go_s = time.monotonic() - cancelled_at
        assert _wait(app, next_b, {"done"}, 60)["status"] == "done"
        assert _row(app, long_a)["status"] == "cancelled"
        assert _stored(app, long_a) == [0, 0, 0] and _stored(app, next_b)[0] >= 1
        print(f"worker moved on {let_go_s:.2f} s after the cancel")

        # Delete while it transcribes: rows and stored media go, and the worker does not bring them back.
        long_c = submit(client, auth, speech(LONG_TOO, name="delete-long.wav"))
        key = _row(app, long_c)["key"]
        _wait_running(app, long_c)
        assert client.delete(f"/api/v1/transcripts/{long_c}", headers=auth).status_code == 204
        after = submit(client, auth, speech("Deleted jobs stay deleted.", name="delete-next.wav"))
        assert _wait(app, after, {"done"}, 60)["status"] == "done"  # the worker has moved on
        time.sleep(1)
        with app.app_context():
            assert db.session.get(Transcript, long_c) is None
            assert db.session.scalar(select(func.count()).select_from(Media).where(Media.storage_key == key)) == 0
            from webapp.storage import from_settings
            assert from_settings(app.config["SCRIPTORIUM"]).size(key) is None
        assert _stored(app, long_c) == [0, 0, 0]
        assert worker.poll() is None  # still serving
    finally:
        worker.terminate()
        worker.wait(30)
        log.close()
