"""Bucket events waiting in a Redis list in MinIO's ``access`` format, consumed here with a blocking pop: MinIO's
own Redis target (``MINIO_REDIS_URL`` + ``MINIO_REDIS_KEY``), and the list ``POST /hooks/minio`` fills
(``webapp.bucket_events.HOOK_EVENTS_KEY`` in REDIS_URL).

An entry that fails for a passing reason (storage, database or queue down; no admin account yet) is pushed back to
the head of the list and retried after a pause, so nothing is lost; a permanent failure is recorded in the ledger
and not retried; an entry that is not MinIO's shape is logged and dropped; an entry that fails in a way nobody
foresaw is kept on ``<key>:failed`` for a person to look at.
"""
from __future__ import annotations

import logging
import threading

from flask import Flask
from redis import Redis

from ingest import bucket
from webapp.bucket_events import EventFormatError, from_redis_access
from webapp.extensions import db
from webapp.transient import is_transient

log = logging.getLogger("scriptorium.ingest")
RETRY_PAUSE = 5.0


class RedisEventConsumer:
    """BLPOP loop on MinIO's list; ``poll_once()`` handles at most one entry (tests call it directly)."""

    def __init__(self, app: Flask, url: str, key: str):
        self.app, self.key, self.failed_key = app, key, f"{key}:failed"
        self.redis = Redis.from_url(url, socket_connect_timeout=5, socket_timeout=30, health_check_interval=30)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def poll_once(self, timeout: float = 1.0) -> list[bucket.Outcome] | None:
        """Wait up to ``timeout`` s for one entry and handle it; None when the list stayed empty."""
        item = self.redis.blpop([self.key], timeout=timeout)
        if item is None:
            return None
        raw = item[1]
        try:
            events = from_redis_access(raw)
        except EventFormatError as exc:
            log.warning("dropped a Redis event entry that is not MinIO's access format: %s", exc)
            return []
        with self.app.app_context():
            try:
                return bucket.handle(events)
            except Exception as exc:
                if isinstance(exc, (bucket.TransientError, bucket.NotConfigured)) or is_transient(exc):
                    self.redis.lpush(self.key, raw)  # back to the head: retried after the pause
                    raise
                self.redis.rpush(self.failed_key, raw)
                log.exception("a bucket event entry failed; kept on Redis list %r", self.failed_key)
                return []
            finally:
                db.session.remove()

    def run(self) -> None:
        log.info("consuming bucket events from Redis list %r", self.key)
        while not self._stop.is_set():
            try:
                self.poll_once(timeout=1.0)
            except Exception as exc:
                log.warning("bucket event from Redis not handled: %s; retrying in %.0f s", exc, RETRY_PAUSE)
                self._stop.wait(RETRY_PAUSE)

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="ingest-redis", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
