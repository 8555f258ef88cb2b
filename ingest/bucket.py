"""Bucket events -> transcripts: the handling the webhook, the Redis consumer and the listener share.

Only object-created events for objects under the inbox bucket/prefix are taken; the object is streamed from the
bucket straight into ``submit_media`` (never re-uploaded by whoever sent the event). Each (bucket/key, size,
ETag) is claimed in the ledger first, so a re-delivered event does nothing, and Scriptorium's own ``media/``
objects never loop back.
"""
from __future__ import annotations

import logging
from typing import NamedTuple

from flask import current_app

from ingest import filetypes, ledger
from webapp.bucket_events import ObjectEvent
from webapp import storage
from webapp.services.submit import SubmitError, submit_media
from webapp.settings import Settings

log = logging.getLogger("scriptorium.ingest")
OWN_PREFIX = "media/"  # where submit_media stores bytes in S3_BUCKET


class NotConfigured(RuntimeError):
    """Bucket events need an S3/MinIO endpoint (S3_ENDPOINT)."""


class TransientError(RuntimeError):
    """Storage or the queue could not be reached; the event should be delivered again later."""


class Outcome(NamedTuple):
    event: ObjectEvent
    action: str  # "submitted" | "known" | "seen" | "ignored" | "rejected"
    transcript_id: int | None = None
    detail: str = ""

    def as_dict(self) -> dict:
        return {"bucket": self.event.bucket, "key": self.event.key, "action": self.action,
                "transcript_id": self.transcript_id, "detail": self.detail}


def ignore_reason(event: ObjectEvent, settings: Settings) -> str | None:
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


def _s3(settings: Settings) -> storage.S3Storage:
    if settings.storage_backend != "s3":
        raise NotConfigured("bucket events need an S3 or MinIO endpoint (set S3_ENDPOINT)")
    return storage.get()  # type: ignore[return-value]


def handle_event(event: ObjectEvent, settings: Settings | None = None) -> Outcome:
    """Submit one event's object once. Raises TransientError when it should be retried."""
    settings = settings or current_app.config["SCRIPTORIUM"]
    reason = ignore_reason(event, settings)
    if reason:
        return Outcome(event, "ignored", detail=reason)
    location, name = f"{event.bucket}/{event.key}", event.key.rsplit("/", 1)[-1]
    kind = filetypes.classify(name)
    if kind != "media":
        if kind == "unsupported" and ledger.note_unsupported("bucket", location, event.size, event.etag,
                                                            "not an audio or video file"):
            log.warning("bucket object %s: not an audio or video file; left alone", location)
        return Outcome(event, "ignored", detail=f"{kind} name")
    store = _s3(settings)
    if not ledger.owner_exists():
        raise TransientError("no admin account exists yet to own bucket files")
    row = ledger.claim("bucket", location, event.size, event.etag)
    if row is None:
        return Outcome(event, "seen", detail="this object version was taken before")
    from minio.error import S3Error

    try:
        obj = store.open_object(event.bucket, event.key)
    except S3Error as exc:
        if exc.code in ("NoSuchKey", "NoSuchObject", "NoSuchBucket"):
            ledger.finish(row, "rejected", error=f"the object is gone ({exc.code})")
            return Outcome(event, "rejected", detail="the object is gone")
        ledger.finish(row, "error", error=f"could not read the object: {exc.code}")
        raise TransientError(f"could not read {location}: {exc.code}") from exc
    except Exception as exc:
        ledger.finish(row, "error", error=f"could not reach the bucket: {exc}")
        raise TransientError(f"could not reach the bucket for {location}: {exc}") from exc
    try:
        result = submit_media(obj, name, "bucket")
    except SubmitError as exc:
        ledger.finish(row, "rejected", error=str(exc))
        log.warning("bucket object %s refused: %s", location, exc)
        return Outcome(event, "rejected", detail=str(exc))
    except Exception as exc:
        ledger.finish(row, "error", error=f"{type(exc).__name__}: {str(exc)[:300]}")
        raise TransientError(f"could not submit {location}: {exc}") from exc
    finally:
        obj.close()
        obj.release_conn()
    t = result.transcript
    ledger.finish(row, "submitted", transcript_id=t.id, sha256=t.media.sha256)
    log.info("bucket object %s -> transcript %s (%s)", location, t.id,
             "queued" if result.created else f"same content as before, {t.status}")
    return Outcome(event, "submitted" if result.created else "known", t.id)


def handle(events: list[ObjectEvent], settings: Settings | None = None) -> list[Outcome]:
    """Handle every event; the first transient failure stops and raises (the sender delivers again)."""
    return [handle_event(ev, settings) for ev in events]
