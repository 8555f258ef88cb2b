"""Completion webhooks end to end: a real transcription job, a real RQ worker, a real HTTP receiver on 127.0.0.1
that checks every signature, answers 500 twice and then 200, and so sees exactly one accepted delivery."""
from __future__ import annotations

import hashlib
import hmac
import json
import threading
from dataclasses import replace
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from jobhelpers import submit


class Receiver:
    """An HTTP server that records each POST and answers with the next status of ``script`` (then 200)."""

    def __init__(self, secret_box: dict, script: list[int]):
        self.requests: list[dict] = []
        self.script = list(script)
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                expected = "sha256=" + hmac.new(secret_box["secret"].encode(), body, hashlib.sha256).hexdigest()
                status = receiver.script.pop(0) if receiver.script else 200
                receiver.requests.append({
                    "headers": dict(self.headers), "body": json.loads(body), "status": status,
                    "signed": hmac.compare_digest(self.headers.get("X-Scriptorium-Signature", ""), expected)})
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook?from=scriptorium"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def secret_box():
    return {}


@pytest.fixture
def receiver(secret_box):
    r = Receiver(secret_box, [500, 500])
    yield r
    r.close()


@pytest.fixture
def allow_private(app, monkeypatch):
    monkeypatch.setitem(app.config, "SCRIPTORIUM", replace(app.config["SCRIPTORIUM"], webhook_allow_private=True))


def release_backoff(app) -> list[float]:
    """Move every retry that waits out its backoff onto its queue now (what the worker's scheduler does when the
    time comes); return how far in the future each was scheduled, in seconds."""
    from rq import Queue
    from rq.job import Job
    from rq.registry import ScheduledJobRegistry

    from webapp import queue as queue_mod
    from webapp.services.webhooks import QUEUE_NAME

    waits = []
    with app.app_context():
        q = Queue(QUEUE_NAME, connection=queue_mod.connection())
        registry = ScheduledJobRegistry(queue=q)
        for job_id in registry.get_job_ids():
            job = Job.fetch(job_id, connection=q.connection)
            waits.append((registry.get_scheduled_time(job) - datetime.now(timezone.utc)).total_seconds())
            registry.remove(job)
            q.enqueue_job(job)
    return waits


def test_a_done_transcript_is_delivered_signed_and_retried_until_accepted(
        app, client, auth, run_jobs, clips, receiver, secret_box, allow_private):
    from webapp.extensions import db
    from webapp.models import WebhookDelivery

    resp = client.post("/api/v1/webhooks", json={"url": receiver.url, "events": ["transcript.done"]}, headers=auth)
    assert resp.status_code == 201, resp.get_json()
    secret_box["secret"] = resp.get_json()["secret"]
    assert secret_box["secret"] not in json.dumps(client.get("/api/v1/webhooks", headers=auth).get_json())

    tid = submit(client, auth, clips.speech, language="en")
    run_jobs()  # the transcription, then the first delivery attempt (500)
    assert client.get(f"/api/v1/transcripts/{tid}", headers=auth).get_json()["status"] == "done"
    assert [r["status"] for r in receiver.requests] == [500]
    waits = []
    for _ in range(5):
        if any(r["status"] == 200 for r in receiver.requests):
            break
        waits += release_backoff(app)
        run_jobs()
    assert [r["status"] for r in receiver.requests] == [500, 500, 200]
    assert len(waits) == 2 and all(w > 5 for w in waits)  # each retry waited out a backoff
    assert all(r["signed"] for r in receiver.requests)
    first = receiver.requests[0]
    assert first["headers"]["X-Scriptorium-Event"] == "transcript.done"
    assert len({r["headers"]["X-Scriptorium-Delivery"] for r in receiver.requests}) == 1  # one delivery, retried
    body = first["body"]
    assert body["event"] == "transcript.done"
    assert body["transcript"]["id"] == tid and body["transcript"]["status"] == "done"
    assert body["transcript"]["language"] == "en" and body["transcript"]["duration"] > 5
    assert body["transcript"]["url"].endswith(f"/transcripts/{tid}") and body["transcript"]["error"] is None
    assert release_backoff(app) == []  # nothing left to retry
    run_jobs()
    assert len(receiver.requests) == 3

    with app.app_context():
        rows = db.session.scalars(db.select(WebhookDelivery).order_by(WebhookDelivery.attempt)).all()
        assert [(r.attempt, r.outcome, r.status_code) for r in rows] == [
            (1, "retrying", 500), (2, "retrying", 500), (3, "delivered", 200)]
        assert all(r.finished_at for r in rows)

    with client.session_transaction() as sess:  # the owner sees the deliveries on the account page
        sess["csrf"] = "test-csrf"
    client.post("/login", data={"username": "admin", "password": "admin-password", "csrf_token": "test-csrf"})
    page = client.get("/account").get_data(as_text=True)
    assert "Recent deliveries" in page and "delivered" in page
    assert "<td>500</td>" in page and "<td>200</td>" in page


def test_a_target_that_became_private_is_refused_at_delivery_and_not_retried(
        app, client, auth, run_jobs, clips, receiver, secret_box, allow_private, monkeypatch):
    """The check runs again when the worker delivers (a name may re-resolve to an inside address)."""
    from webapp.extensions import db
    from webapp.models import WebhookDelivery

    resp = client.post("/api/v1/webhooks", json={"url": receiver.url}, headers=auth)
    assert resp.status_code == 201
    secret_box["secret"] = resp.get_json()["secret"]
    monkeypatch.setitem(app.config, "SCRIPTORIUM", replace(app.config["SCRIPTORIUM"], webhook_allow_private=False))
    submit(client, auth, clips.speech, language="en")
    run_jobs()
    assert release_backoff(app) == []
    assert receiver.requests == []
    with app.app_context():
        rows = db.session.scalars(db.select(WebhookDelivery)).all()
        assert [(r.outcome, r.status_code) for r in rows] == [("refused", None)]
        assert "WEBHOOK_ALLOW_PRIVATE" in rows[0].error


def test_a_failed_transcript_is_delivered_only_to_webhooks_that_want_failures(
        app, client, auth, run_jobs, clips, secret_box, allow_private):
    receiver = Receiver(secret_box, [])
    try:
        wants_failed = client.post("/api/v1/webhooks", headers=auth, json={
            "url": receiver.url, "events": ["transcript.failed"]}).get_json()
        client.post("/api/v1/webhooks", headers=auth, json={"url": receiver.url + "&done-only",
                                                            "events": ["transcript.done"]})
        secret_box["secret"] = wants_failed["secret"]
        tid = submit(client, auth, clips.speech, language="en", model="large-v3")  # not installed here: fails
        run_jobs()
        assert client.get(f"/api/v1/transcripts/{tid}", headers=auth).get_json()["status"] == "failed"
        assert len(receiver.requests) == 1
        sent = receiver.requests[0]
        assert sent["signed"] and sent["headers"]["X-Scriptorium-Event"] == "transcript.failed"
        assert sent["body"]["transcript"]["status"] == "failed" and sent["body"]["transcript"]["error"]
    finally:
        receiver.close()


def test_the_worker_puts_a_retry_back_on_its_queue_when_its_backoff_has_passed(app):
    """What `scriptorium worker` runs beside its jobs (RetryScheduler): a due retry moves to the queue, a later
    one stays scheduled."""
    import time
    from datetime import timedelta

    from rq import Queue
    from rq.registry import ScheduledJobRegistry

    from webapp import queue as queue_mod
    from webapp.services.webhooks import QUEUE_NAME
    from worker.runner import RetryScheduler

    with app.app_context():
        q = Queue(QUEUE_NAME, connection=queue_mod.connection())
        now = datetime.now(timezone.utc)
        due = q.enqueue_at(now - timedelta(seconds=1), "worker.webhooks.deliver", 1, "due", "transcript.done", "{}")
        later = q.enqueue_at(now + timedelta(hours=1), "worker.webhooks.deliver", 1, "later", "transcript.done", "{}")
    mover = RetryScheduler(app, interval=0.2)
    mover.start()
    try:
        deadline = time.monotonic() + 20
        while q.job_ids != [due.id]:
            assert time.monotonic() < deadline, q.job_ids
            time.sleep(0.05)
    finally:
        mover.stop()
        mover.join(5)
    assert ScheduledJobRegistry(queue=q).get_job_ids() == [later.id]
