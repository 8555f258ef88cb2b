"""Normalising MinIO's two notification shapes, and the ingest settings."""
import pytest

from webapp.bucket_events import EventFormatError, from_redis_access, from_webhook
from ingest.filetypes import classify
from tests.ingest.minio_payloads import redis_access, webhook
from webapp import settings as s


def test_webhook_and_redis_shapes_give_the_same_event_with_the_key_decoded():
    hook = from_webhook(webhook("media-in", "inbox/team meeting (1).wav", 1234, "9b2cf535f27731c974343645a3985328"))
    redis = from_redis_access(redis_access("media-in", "inbox/team meeting (1).wav", 1234,
                                           "9b2cf535f27731c974343645a3985328"))
    assert hook == redis
    (ev,) = hook
    assert ev.key == "inbox/team meeting (1).wav" and ev.bucket == "media-in" and ev.size == 1234 and ev.created


@pytest.mark.parametrize("payload", [None, [], {"EventName": "x"}, {"Records": {}}, {"Records": [{"s3": {}}]}])
def test_malformed_webhook_bodies_are_refused(payload):
    with pytest.raises(EventFormatError):
        from_webhook(payload)


@pytest.mark.parametrize("raw", [b"not json", b'{"Records": []}', b'[{"Event": "x"}]'])
def test_malformed_redis_entries_are_refused(raw):
    with pytest.raises(EventFormatError):
        from_redis_access(raw)


@pytest.mark.parametrize("name,kind", [
    ("a.wav", "media"), ("A.MP4", "media"), ("a.wav.part", "temporary"), ("a.crdownload", "temporary"),
    ("a.tmp", "temporary"), ("a.wav~", "temporary"), (".a.wav", "temporary"), ("a.srt", "sidecar"),
    ("a.error.txt", "sidecar"), ("a.pdf", "unsupported"), ("README", "unsupported"),
])
def test_names_are_classified(name, kind):
    assert classify(name) == kind


def test_ingest_settings_are_read_and_checked(tmp_path):
    cfg = s.load({"SCRIPTORIUM_DATA_DIR": str(tmp_path), "WATCH_POLLING": "yes", "WATCH_OUTPUT": "beside",
                  "WATCH_OUTPUT_FORMATS": "srt, txt", "WATCH_MOVE_DONE": "true", "MINIO_INBOX_PREFIX": "/drop/",
                  "MINIO_REDIS_URL": "redis://minio-events:6379/0"})
    assert cfg.watch_polling and cfg.watch_output == "beside" and cfg.watch_move_done
    assert cfg.watch_output_formats == ("srt", "txt") and cfg.minio_inbox_prefix == "drop/"
    assert cfg.inbox_bucket == cfg.s3_bucket and cfg.minio_redis_url.startswith("redis://")
    defaults = s.load({"SCRIPTORIUM_DATA_DIR": str(tmp_path)})
    assert defaults.watch_output == "off" and not defaults.watch_move_done and defaults.minio_redis_url is None
    for key, value in [("WATCH_OUTPUT", "relative/dir"), ("WATCH_OUTPUT_FORMATS", "doc"),
                       ("WATCH_SETTLE_SECONDS", "soon"), ("MINIO_REDIS_URL", "localhost:6379")]:
        with pytest.raises(s.SettingsError, match=key):
            s.load({"SCRIPTORIUM_DATA_DIR": str(tmp_path), key: value})
