"""MinIO bucket notifications, normalised: the webhook body and the Redis ``access`` list entries both become
a list of :class:`ObjectEvent`.

Webhook body: ``{"EventName": "s3:ObjectCreated:Put", "Key": "<bucket>/<object>", "Records": [record, ...]}``.
Redis ``access`` format: each list entry is ``[{"Event": [record, ...], "EventTime": "..."}]``.
A record is S3's: ``{"eventName", "s3": {"bucket": {"name"}, "object": {"key" (URL-encoded), "size", "eTag"}}}``.
"""
from __future__ import annotations

import json
from typing import Any, NamedTuple
from urllib.parse import unquote_plus


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


def from_record(record: Any) -> ObjectEvent:
    """One S3 event record -> ObjectEvent."""
    try:
        s3 = record["s3"]
        obj = s3["object"]
        bucket, key = s3["bucket"]["name"], obj["key"]
        name = record.get("eventName") or ""
    except (KeyError, TypeError):
        raise EventFormatError("an event record lacks s3.bucket.name or s3.object.key") from None
    if not isinstance(bucket, str) or not isinstance(key, str) or not bucket or not key:
        raise EventFormatError("an event record has an empty bucket or key")
    try:
        size = int(obj.get("size") or 0)
    except (TypeError, ValueError):
        raise EventFormatError("an event record has a non-numeric object size") from None
    etag = str(obj.get("eTag") or obj.get("etag") or "").strip('"')
    return ObjectEvent(str(name), bucket, unquote_plus(key), size, etag)


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
    except (ValueError, UnicodeDecodeError):
        raise EventFormatError("the Redis entry is not JSON") from None
    entries = data if isinstance(data, list) else [data]
    events: list[ObjectEvent] = []
    for entry in entries:
        if not isinstance(entry, dict) or "Event" not in entry:
            raise EventFormatError("expected entries of the shape {\"Event\": [records], \"EventTime\": ...}")
        events.extend(_records(entry["Event"]))
    return events
