"""POST /hooks/minio with MinIO's own webhook JSON, against the S3 test endpoint (moto over HTTP)."""
from __future__ import annotations

import io

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


def post(client, body, token=TOKEN, **kw):
    return client.post("/hooks/minio", json=body, headers={"Authorization": f"Bearer {token}"}, **kw)


def test_a_created_event_submits_the_object_from_the_bucket(hook, client, speech, counts, db_query):
    from sqlalchemy import select

    from webapp.models import Media, Transcript

    event = hook("inbox/team meeting.wav", speech("Sent by a bucket event.").read_bytes())
    resp = post(client, event)
    assert resp.status_code == 200, resp.get_json()
    (outcome,) = resp.get_json()["events"]
    assert outcome["action"] == "submitted" and outcome["key"] == "inbox/team meeting.wav"
    t = db_query(lambda s: s.scalar(select(Transcript)))
    assert t.title == "team meeting.wav" and t.id == outcome["transcript_id"]
    assert db_query(lambda s: s.scalar(select(Media.source))) == "bucket"
    assert counts()["queued_jobs"] == 1


def test_a_wrong_or_missing_token_is_refused_and_nothing_stored(hook, client, counts):
    event = hook("inbox/secret.wav", b"RIFF....WAVE")
    assert post(client, event, token="wrong-token").status_code == 401
    assert client.post("/hooks/minio", json=event).status_code == 401
    assert counts() == {"transcripts": 0, "ledger": 0, "statuses": {}, "queued_jobs": 0}


def test_a_redelivered_event_makes_one_job(hook, client, speech, counts):
    event = hook("inbox/twice.wav", speech("Delivered twice.").read_bytes())
    assert post(client, event).get_json()["events"][0]["action"] == "submitted"
    assert post(client, event).get_json()["events"][0]["action"] == "seen"
    c = counts()
    assert (c["transcripts"], c["ledger"], c["queued_jobs"]) == (1, 1, 1)


def test_delete_events_and_objects_outside_the_inbox_are_acknowledged_and_ignored(hook, client, counts, settings):
    removed = hook("inbox/gone.wav", b"RIFF....WAVE")
    removed["EventName"] = removed["Records"][0]["eventName"] = "s3:ObjectRemoved:Delete"
    own = hook("media/ab/abcdef", b"our own stored media")
    elsewhere = hook("reports/q3.wav", b"RIFF....WAVE")
    for body in (removed, own, elsewhere):
        resp = post(client, body)
        assert resp.status_code == 200 and resp.get_json()["events"][0]["action"] == "ignored"
    assert counts() == {"transcripts": 0, "ledger": 0, "statuses": {}, "queued_jobs": 0}


def test_malformed_json_is_refused_and_nothing_stored(hook, client, counts):
    resp = client.post("/hooks/minio", data=b'{"Records": [ {"s3": ', content_type="application/json",
                       headers={"Authorization": f"Bearer {TOKEN}"})
    assert resp.status_code == 400
    assert post(client, {"Records": [{"eventName": "s3:ObjectCreated:Put"}]}).status_code == 400
    assert counts() == {"transcripts": 0, "ledger": 0, "statuses": {}, "queued_jobs": 0}


def test_the_hook_is_off_without_a_token(auth, client, configure):
    configure(minio_webhook_token=None)
    resp = post(client, webhook("b", "inbox/x.wav", 1, "e"))
    assert resp.status_code == 503 and "MINIO_WEBHOOK_TOKEN" in resp.get_json()["error"]


def test_events_before_any_admin_exists_are_refused_for_now_and_taken_on_redelivery(
        client, configure, user_factory, counts):
    settings = configure(minio_webhook_token=TOKEN)
    from webapp.storage import from_settings

    data = b"RIFF" + bytes(range(256)) * 8
    put = from_settings(settings).client.put_object(settings.s3_bucket, "inbox/early.wav", io.BytesIO(data),
                                                    len(data))
    event = webhook(settings.s3_bucket, "inbox/early.wav", len(data), put.etag)
    assert post(client, event).status_code == 503  # MinIO keeps the event and sends it again
    user_factory("admin", admin=True)
    assert post(client, event).get_json()["events"][0]["action"] == "submitted"
    assert counts()["transcripts"] == 1
