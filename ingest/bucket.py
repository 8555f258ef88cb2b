"""Bucket events -> transcripts: the handling the webhook, the Redis consumer and the listener share.

Only object-created events for objects under the inbox bucket/prefix are taken; the object is streamed from the
bucket straight into ``submit_media`` (never re-uploaded by whoever sent the event). Each (bucket/key, size,
ETag) is claimed in the ledger first, so a re-delivered event does nothing, and Scriptorium's own ``media/``
objects never loop back.

A failure is transient (storage, database or queue unreachable: :class:`TransientError`, the event is delivered
again) or permanent (the object is gone, too large, not media, or anything else another try would meet again:
the ledger row says "rejected" with the reason, and a re-delivery finds it and does nothing).
"""
from __future__ import annotations

import logging
from typing import NamedTuple

from flask import current_app

from ingest import filetypes, ledger
from ingest.filetypes import shown
from webapp import storage
from webapp.bucket_events import OWN_PREFIX, ObjectEvent, ignore_reason
from webapp.services.submit import SubmitError, submit_media
from webapp.settings import Settings
from webapp.transient import is_transient

log = logging.getLogger("scriptorium.ingest")
# S3 error codes that another try may not meet (throttling, a server restarting); any other code is final.
TRANSIENT_S3_CODES = frozenset({"SlowDown", "InternalError", "ServiceUnavailable", "RequestTimeout",
                                "RequestTimeTooSkewed", "OperationAborted", "XMinioServerNotInitialized"})
__all__ = ["OWN_PREFIX", "NotConfigured", "Outcome", "TransientError", "handle", "handle_event", "ignore_reason"]


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
            log.warning("bucket object %s: not an audio or video file; left alone", shown(location))
        return Outcome(event, "ignored", detail=f"{kind} name")
    store = _s3(settings)
    if not ledger.owner_exists():
        raise TransientError("no admin account exists yet to own bucket files")
    row = ledger.claim("bucket", location, event.size, event.etag)
    if row is None:
        return Outcome(event, "seen", detail="this object version was taken before")
    limit = settings.max_upload_mb * 1024 * 1024
    if event.size > limit:  # refused before a byte is read (submit_media still checks what it reads)
        return _rejected(row, event, f"the file is larger than the {settings.max_upload_mb} MB upload limit")
    from minio.error import S3Error

    try:
        obj = store.open_object(event.bucket, event.key)
    except S3Error as exc:
        if exc.code in ("NoSuchKey", "NoSuchObject", "NoSuchBucket"):
            return _rejected(row, event, f"the object is gone ({exc.code})")
        if exc.code in TRANSIENT_S3_CODES:
            ledger.finish(row, "error", error=f"could not read the object: {exc.code}")
            raise TransientError(f"could not read {shown(location)}: {exc.code}") from exc
        return _rejected(row, event, f"the bucket refused to give the object: {exc.code}")
    except Exception as exc:
        if not is_transient(exc):
            return _rejected(row, event, f"could not read the object: {type(exc).__name__}: {str(exc)[:300]}")
        ledger.finish(row, "error", error=f"could not reach the bucket: {exc}")
        raise TransientError(f"could not reach the bucket for {shown(location)}: {exc}") from exc
    try:
        result = submit_media(obj, name, "bucket")
    except SubmitError as exc:
        return _rejected(row, event, str(exc))
    except Exception as exc:
        _rollback()
        if not is_transient(exc):
            log.exception("bucket object %s could not be submitted", shown(location))
            return _rejected(row, event, f"{type(exc).__name__}: {str(exc)[:300]}")
        ledger.finish(row, "error", error=f"{type(exc).__name__}: {str(exc)[:300]}")
        raise TransientError(f"could not submit {shown(location)}: {exc}") from exc
    finally:
        obj.close()
        obj.release_conn()
    t = result.transcript
    ledger.finish(row, "submitted", transcript_id=t.id, sha256=t.media.sha256)
    log.info("bucket object %s -> transcript %s (%s)", shown(location), t.id,
             "queued" if result.created else f"same content as before, {t.status}")
    return Outcome(event, "submitted" if result.created else "known", t.id)


def _rejected(row: int, event: ObjectEvent, reason: str) -> Outcome:
    """A permanent failure: recorded once in the ledger, so a re-delivery of the event does nothing."""
    ledger.finish(row, "rejected", error=reason)
    log.warning("bucket object %s/%s refused: %s", shown(event.bucket), shown(event.key), shown(reason))
    return Outcome(event, "rejected", detail=reason)


def _rollback() -> None:
    from webapp.extensions import db

    db.session.rollback()


def handle(events: list[ObjectEvent], settings: Settings | None = None) -> list[Outcome]:
    """Handle every event; the first transient failure stops and raises (the sender delivers again)."""
    return [handle_event(ev, settings) for ev in events]
