"""POST /hooks/minio with MinIO's own webhook JSON: the web role only checks and queues (202); the ingest role's
consumer, driven here against the real Redis, fetches the object from the S3 test endpoint (moto over HTTP)."""
from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys

import pytest

from tests.ingest.minio_payloads import webhook

TOKEN = "hook-token-for-tests-0123456789"


@pytest.fixture
def hook(auth, configure):
    """The webhook turned on; put(key, data) stores an object in the inbox like a MinIO client would."""
    settings = configure(minio_webhook_token=TOKEN)
    from webapp.storage import from_settings

    store = from_settings(settings)

    def put(key: str, data: bytes) -> dict:
        result = store.client.put_object(settings.s3_bucket, key, io.BytesIO(data), len(data),
                                         content_type="audio/wav")
        return webhook(settings.s3_bucket, key, len(data), result.etag)

    return put


@pytest.fixture
def consumer(app, redis_url):
    """The ingest role's consumer of the hook's list (what `scriptorium ingest` runs when the hook is on)."""
    from ingest.redis_events import RedisEventConsumer
    from webapp.bucket_events import HOOK_EVENTS_KEY

    return RedisEventConsumer(app, redis_url, HOOK_EVENTS_KEY)


def drain(consumer) -> list:
    """Handle every queued entry; the outcomes in order."""
    outcomes = []
    while (got := consumer.poll_once(timeout=0.1)) is not None:
        outcomes.extend(got)
    return outcomes


def queued(consumer) -> int:
    return consumer.redis.llen(consumer.key)


def post(client, body, token=TOKEN, **kw):
    return client.post("/hooks/minio", json=body, headers={"Authorization": f"Bearer {token}"}, **kw)


def test_a_created_event_is_queued_at_once_and_the_ingest_role_submits_it(hook, client, consumer, speech, counts,
                                                                          db_query):
    from sqlalchemy import select

    from webapp.models import Media, Transcript

    event = hook("inbox/team meeting.wav", speech("Sent by a bucket event.").read_bytes())
    resp = post(client, event)
    assert resp.status_code == 202, resp.get_json()
    assert resp.get_json()["events"] == [
        {"bucket": event["Records"][0]["s3"]["bucket"]["name"], "key": "inbox/team meeting.wav",
         "action": "queued", "detail": ""}]
    assert counts()["transcripts"] == 0 and queued(consumer) == 1  # nothing fetched inside the request

    (outcome,) = drain(consumer)
    assert outcome.action == "submitted" and outcome.event.key == "inbox/team meeting.wav"
    t = db_query(lambda s: s.scalar(select(Transcript)))
    assert t.title == "team meeting.wav" and t.id == outcome.transcript_id
    assert db_query(lambda s: s.scalar(select(Media.source))) == "bucket"
    assert counts()["queued_jobs"] == 1 and queued(consumer) == 0


def test_a_wrong_or_missing_token_is_refused_and_nothing_queued(hook, client, consumer, counts):
    event = hook("inbox/secret.wav", b"RIFF....WAVE")
    assert post(client, event, token="wrong-token").status_code == 401
    assert client.post("/hooks/minio", json=event).status_code == 401
    assert queued(consumer) == 0
    assert counts() == {"transcripts": 0, "ledger": 0, "statuses": {}, "queued_jobs": 0}


def test_a_redelivered_event_makes_one_job(hook, client, consumer, speech, counts):
    event = hook("inbox/twice.wav", speech("Delivered twice.").read_bytes())
    assert post(client, event).status_code == 202 and post(client, event).status_code == 202
    assert [o.action for o in drain(consumer)] == ["submitted", "seen"]
    c = counts()
    assert (c["transcripts"], c["ledger"], c["queued_jobs"]) == (1, 1, 1)


def test_delete_events_and_objects_outside_the_inbox_are_acknowledged_and_ignored(hook, client, consumer, counts):
    removed = hook("inbox/gone.wav", b"RIFF....WAVE")
    removed["EventName"] = removed["Records"][0]["eventName"] = "s3:ObjectRemoved:Delete"
    own = hook("media/ab/abcdef", b"our own stored media")
    elsewhere = hook("reports/q3.wav", b"RIFF....WAVE")
    for body in (removed, own, elsewhere):
        resp = post(client, body)
        assert resp.status_code == 202 and resp.get_json()["events"][0]["action"] == "ignored"
    assert queued(consumer) == 0
    assert counts() == {"transcripts": 0, "ledger": 0, "statuses": {}, "queued_jobs": 0}


def _with(body: dict, **obj) -> dict:
    body = json.loads(json.dumps(body))
    body["Records"][0]["s3"]["object"].update(obj)
    return body


def test_bad_values_get_a_json_400_that_says_what_is_wrong(hook, client, consumer, counts):
    """Issue 12: ``"size": 1e400`` answered 500 and bad values answered HTML."""
    good = hook("inbox/odd.wav", b"RIFF....WAVE")
    raw_huge = json.dumps(good).replace('"size": 12', '"size": 1e400')
    assert "1e400" in raw_huge
    cases = [
        (b'{"Records": [ {"s3": ', "not JSON"),
        (raw_huge.encode(), "size"),
        (json.dumps(_with(good, size=-1)).encode(), "size"),
        (json.dumps(_with(good, size=12.5)).encode(), "size"),
        (json.dumps(_with(good, size="twelve")).encode(), "size"),
        (json.dumps(_with(good, size=2**64)).encode(), "size"),
        (json.dumps(_with(good, key="inbox%2Fnul%00.wav")).encode(), "NUL"),
        (json.dumps(_with(good, key=["inbox/a.wav"])).encode(), "key"),
        (json.dumps({"Records": [{"eventName": "s3:ObjectCreated:Put"}]}).encode(), "s3.bucket.name"),
        (json.dumps({"Records": ["just a string"]}).encode(), "s3.bucket.name"),
        (json.dumps({"Records": {"not": "a list"}}).encode(), "list"),
        (json.dumps([1, 2, 3]).encode(), "Records"),
    ]
    for body, words in cases:
        resp = client.post("/hooks/minio", data=body, content_type="application/json",
                           headers={"Authorization": f"Bearer {TOKEN}"})
        assert resp.status_code == 400, (body[:80], resp.status_code, resp.data[:200])
        assert resp.is_json and words.lower() in resp.get_json()["error"].lower(), resp.get_json()
    wrong_method = client.get("/hooks/minio", headers={"Authorization": f"Bearer {TOKEN}"})
    assert wrong_method.status_code == 405  # routing errors are answered by the app-wide error negotiator
    assert queued(consumer) == 0 and counts()["ledger"] == 0


def test_the_hook_is_off_without_a_token(auth, client, configure):
    configure(minio_webhook_token=None)
    resp = post(client, webhook("b", "inbox/x.wav", 1, "e"))
    assert resp.status_code == 503 and "MINIO_WEBHOOK_TOKEN" in resp.get_json()["error"]


def test_events_before_any_admin_exists_wait_in_the_queue_and_are_taken_once_there_is_one(
        client, configure, consumer, user_factory, counts):
    settings = configure(minio_webhook_token=TOKEN)
    from webapp.storage import from_settings

    data = b"RIFF" + bytes(range(256)) * 8
    put = from_settings(settings).client.put_object(settings.s3_bucket, "inbox/early.wav", io.BytesIO(data),
                                                    len(data))
    event = webhook(settings.s3_bucket, "inbox/early.wav", len(data), put.etag)
    assert post(client, event).status_code == 202
    with pytest.raises(Exception, match="no admin account"):
        consumer.poll_once(timeout=0.1)
    assert queued(consumer) == 1  # put back, not lost
    user_factory("admin", admin=True)
    assert [o.action for o in drain(consumer)] == ["submitted"]
    assert counts()["ledger"] == 1 and queued(consumer) == 0


def _dead_endpoint() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{s.getsockname()[1]}"  # nothing listens there once closed


def test_storage_out_of_reach_is_transient_the_event_stays_queued_and_is_taken_later(
        hook, client, consumer, configure, speech, counts):
    event = hook("inbox/later.wav", speech("Storage came back.").read_bytes())
    assert post(client, event).status_code == 202
    working = configure().s3_endpoint
    configure(s3_endpoint=_dead_endpoint())
    with pytest.raises(Exception, match="could not reach the bucket"):
        consumer.poll_once(timeout=0.1)
    assert queued(consumer) == 1 and counts()["statuses"] == {"error": 1}
    configure(s3_endpoint=working)
    assert [o.action for o in drain(consumer)] == ["submitted"]
    assert counts()["statuses"] == {"submitted": 1}


def test_a_permanent_failure_is_recorded_once_and_not_retried(hook, client, consumer, configure, counts,
                                                             monkeypatch, db_query):
    """Issue 13 defect 4: every failure was called transient, so MinIO redelivered a bad object forever."""
    from sqlalchemy import select

    from ingest import bucket
    from webapp.models import IngestRecord

    gone = webhook(configure().s3_bucket, "inbox/never-there.wav", 10, "etag-1")
    too_big = hook("inbox/huge.wav", b"RIFF" + b"\0" * 64)
    too_big["Records"][0]["s3"]["object"]["size"] = 5 * 1024 * 1024
    odd = hook("inbox/odd.wav", b"RIFF" + b"\1" * 64)
    configure(max_upload_mb=1)

    def corrupt(*_a, **_kw):  # the boundary this test is not about: a fault no retry will cure
        raise ValueError("the container is corrupt")

    for body in (gone, too_big):
        assert post(client, body).status_code == 202
    assert [o.action for o in drain(consumer)] == ["rejected", "rejected"]
    monkeypatch.setattr(bucket, "submit_media", corrupt)
    assert post(client, odd).status_code == 202
    assert [o.action for o in drain(consumer)] == ["rejected"]
    errors = db_query(lambda s: dict(s.execute(select(IngestRecord.location, IngestRecord.error)).all()))
    assert "gone" in errors[f"{configure().s3_bucket}/inbox/never-there.wav"]
    assert "1 MB upload limit" in errors[f"{configure().s3_bucket}/inbox/huge.wav"]
    assert "corrupt" in errors[f"{configure().s3_bucket}/inbox/odd.wav"]

    for body in (gone, too_big, odd):  # MinIO delivers again: nothing is tried again, nothing stays queued
        post(client, body)
    assert [o.action for o in drain(consumer)] == ["seen", "seen", "seen"]
    assert queued(consumer) == 0 and counts()["statuses"] == {"rejected": 3}


def test_the_web_side_never_imports_the_ingester(test_env):
    code = ("import sys; from webapp import create_app; import webapp.blueprints.hooks; "
            "bad = sorted(m for m in sys.modules if m == 'ingest' or m.startswith('ingest.')); "
            "assert not bad, bad")
    env = {**os.environ, **test_env, "PYTHONPATH": os.getcwd()}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=120)


def test_redis_out_of_reach_answers_503_in_json_so_minio_delivers_again(hook, client, app, monkeypatch, counts):
    from redis import Redis

    event = hook("inbox/queue-down.wav", b"RIFF....WAVE")
    monkeypatch.setitem(app.extensions, "scriptorium.redis",
                        Redis.from_url(f"redis://{_dead_endpoint()}/0", socket_connect_timeout=1))
    resp = post(client, event)
    assert resp.status_code == 503 and "deliver the event again" in resp.get_json()["error"]
    monkeypatch.undo()
    assert counts()["ledger"] == 0 and post(client, event).status_code == 202
