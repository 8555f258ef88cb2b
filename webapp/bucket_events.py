"""MinIO bucket notifications, normalised: the webhook body and the Redis ``access`` list entries both become
a list of :class:`ObjectEvent`.

Webhook body: ``{"EventName": "s3:ObjectCreated:Put", "Key": "<bucket>/<object>", "Records": [record, ...]}``.
Redis ``access`` format: each list entry is ``[{"Event": [record, ...], "EventTime": "..."}]``.
A record is S3's: ``{"eventName", "s3": {"bucket": {"name"}, "object": {"key" (URL-encoded), "size", "eTag"}}}``.

The webhook (web role) only checks the shape and queues the events on :data:`HOOK_EVENTS_KEY` in the app's
Redis, in the same ``access`` format; the ingest role consumes that list and does the download, probe and submit.
"""
from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import quote_plus, unquote_plus

if TYPE_CHECKING:
    from webapp.settings import Settings

# The Redis list (in the app's REDIS_URL) where POST /hooks/minio leaves events for the ingest role.
HOOK_EVENTS_KEY = "scriptorium:ingest:hook-events"
OWN_PREFIX = "media/"  # where submit_media stores bytes in S3_BUCKET
MAX_SIZE = 2**63 - 1  # the ledger's BIGINT
MAX_NAME = 4096  # longer bucket/key strings are not S3's (keys are at most 1024 bytes)


class EventFormatError(ValueError):
    """The notification is not in MinIO's shape; the message says what is wrong."""


class ObjectEvent(NamedTuple):
    name: str  # e.g. "s3:ObjectCreated:Put"
    bucket: str
    key: str  # URL-decoded
    size: int
    etag: str

    @property
    def created(self) -> bool:
        return self.name.startswith("s3:ObjectCreated:")

    def as_record(self) -> dict:
        """Back to an S3 event record (the key URL-encoded again), for queuing."""
        return {"eventName": self.name, "s3": {"bucket": {"name": self.bucket},
                                               "object": {"key": quote_plus(self.key), "size": self.size,
                                                          "eTag": self.etag}}}


def _size(value: Any) -> int:
    """A byte count: a non-negative whole number that fits the ledger (JSON ``1e400`` is infinity in Python)."""
    if value is None or value == "":
        return 0
    if isinstance(value, bool):
        raise EventFormatError("an event record's object size is not a number")
    try:
        size = int(value)
        whole = size == value if isinstance(value, float) else True
    except (TypeError, ValueError, OverflowError):
        raise EventFormatError("an event record's object size is not a whole number of bytes") from None
    if not whole or not 0 <= size <= MAX_SIZE:
        raise EventFormatError("an event record's object size is not a whole number of bytes between 0 and 2^63")
    return size


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise EventFormatError(f"an event record has an empty or non-text {what}")
    if "\x00" in value or len(value) > MAX_NAME:
        raise EventFormatError(f"an event record's {what} holds a NUL character or is too long")
    return value


def from_record(record: Any) -> ObjectEvent:
    """One S3 event record -> ObjectEvent."""
    try:
        s3 = record["s3"]
        obj = s3["object"]
        bucket, key = s3["bucket"]["name"], obj["key"]
        name = record.get("eventName") or ""
        size, etag = obj.get("size"), obj.get("eTag") or obj.get("etag") or ""
    except (KeyError, TypeError, AttributeError):
        raise EventFormatError("an event record lacks s3.bucket.name or s3.object.key") from None
    bucket, key = _text(bucket, "bucket name"), _text(key, "object key")
    if not isinstance(name, str) or not isinstance(etag, (str, int)):
        raise EventFormatError("an event record's eventName or eTag is not text")
    key = unquote_plus(key)
    if "\x00" in key:
        raise EventFormatError("an event record's object key holds a NUL character")
    etag = str(etag).strip('"')
    if "\x00" in etag or len(etag) > 128:
        raise EventFormatError("an event record's eTag holds a NUL character or is too long")
    return ObjectEvent(name, bucket, key, _size(size), etag)


def _records(records: Any) -> list[ObjectEvent]:
    if not isinstance(records, list):
        raise EventFormatError("Records must be a list")
    return [from_record(r) for r in records]


def from_webhook(payload: Any) -> list[ObjectEvent]:
    """The body MinIO's webhook target POSTs (already parsed from JSON)."""
    if not isinstance(payload, dict) or "Records" not in payload:
        raise EventFormatError("expected a JSON object with a Records list (MinIO's notification shape)")
    return _records(payload["Records"])


def from_redis_access(raw: bytes | str) -> list[ObjectEvent]:
    """One entry of MinIO's Redis target list in ``access`` format."""
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise EventFormatError("the Redis entry is not JSON") from None
    entries = data if isinstance(data, list) else [data]
    events: list[ObjectEvent] = []
    for entry in entries:
        if not isinstance(entry, dict) or "Event" not in entry:
            raise EventFormatError("expected entries of the shape {\"Event\": [records], \"EventTime\": ...}")
        events.extend(_records(entry["Event"]))
    return events


def to_redis_access(events: list[ObjectEvent]) -> str:
    """Events as one ``access``-format entry (what :func:`from_redis_access` reads back)."""
    return json.dumps([{"Event": [e.as_record() for e in events]}])


def ignore_reason(event: ObjectEvent, settings: "Settings") -> str | None:
    """Why this event is not for us, or None when it names a new object in the inbox."""
    if not event.created:
        return f"{event.name or 'unnamed event'} is not an object-created event"
    if event.bucket == settings.s3_bucket and event.key.startswith(OWN_PREFIX):
        return "Scriptorium's own stored media"
    if event.bucket != settings.inbox_bucket:
        return f"bucket {event.bucket} is not the inbox bucket {settings.inbox_bucket}"
    if not event.key.startswith(settings.minio_inbox_prefix):
        return f"outside the inbox prefix {settings.minio_inbox_prefix!r}"
    if event.key.endswith("/"):
        return "a folder marker"
    return None
