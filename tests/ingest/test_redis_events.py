"""MinIO's Redis notification target in access format, consumed with BLPOP from the real test Redis."""
from __future__ import annotations

import io

import pytest

from tests.ingest.minio_payloads import redis_access

KEY = "minio-events-test"


@pytest.fixture
def consumer(app, auth, redis_url):
    from ingest.redis_events import RedisEventConsumer

    return RedisEventConsumer(app, redis_url, KEY)


def test_access_format_entries_are_submitted_once(consumer, app, speech, counts):
    settings = app.config["SCRIPTORIUM"]
    from webapp.storage import from_settings

    data = speech("Announced through a Redis list.").read_bytes()
    put = from_settings(settings).client.put_object(settings.s3_bucket, "inbox/from redis.wav", io.BytesIO(data),
                                                    len(data))
    entry = redis_access(settings.s3_bucket, "inbox/from redis.wav", len(data), put.etag)
    consumer.redis.rpush(KEY, entry, entry, "not json at all")

    (first,) = consumer.poll_once(timeout=1)
    (second,) = consumer.poll_once(timeout=1)
    assert (first.action, second.action) == ("submitted", "seen")
    assert consumer.poll_once(timeout=1) == []  # malformed: dropped, not retried forever
    assert consumer.poll_once(timeout=0.1) is None  # the list is empty
    c = counts()
    assert (c["transcripts"], c["ledger"], c["queued_jobs"]) == (1, 1, 1)


def test_a_transient_failure_puts_the_entry_back(consumer, app, configure, counts):
    configure(s3_endpoint=None)  # storage "unreachable": bucket events cannot be handled now
    entry = redis_access(app.config["SCRIPTORIUM"].s3_bucket, "inbox/later.wav", 10, "etag")
    consumer.redis.rpush(KEY, entry)
    from ingest.bucket import NotConfigured

    with pytest.raises(NotConfigured):
        consumer.poll_once(timeout=1)
    assert consumer.redis.lrange(KEY, 0, -1) == [entry.encode()]
    assert counts()["transcripts"] == 0
