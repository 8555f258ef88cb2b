"""MinIO's own notification stream (``MINIO_LISTEN=true``): ``listen_bucket_notification`` on the inbox.

MinIO-only (other S3 servers do not speak it; moto loops forever), so it is off by default and never used in
tests. The stream is a blocking iterator: ``stop()`` takes effect at the next event or reconnect.
"""
from __future__ import annotations

import logging
import threading

from flask import Flask

from ingest import bucket
from webapp.bucket_events import EventFormatError, from_webhook
from webapp import storage
from webapp.extensions import db

log = logging.getLogger("scriptorium.ingest")
RECONNECT_PAUSE = 5.0


class BucketListener:
    def __init__(self, app: Flask):
        self.app = app
        self.settings = app.config["SCRIPTORIUM"]
        if self.settings.storage_backend != "s3":
            raise bucket.NotConfigured("MINIO_LISTEN needs S3_ENDPOINT pointing at a MinIO server")
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run(self) -> None:
        s = self.settings
        client = storage.get().client
        while not self._stop.is_set():
            try:
                log.info("listening to MinIO events on %s/%s", s.inbox_bucket, s.minio_inbox_prefix)
                with client.listen_bucket_notification(s.inbox_bucket, prefix=s.minio_inbox_prefix,
                                                       events=("s3:ObjectCreated:*",)) as stream:
                    for payload in stream:
                        if self._stop.is_set():
                            return
                        self._handle(payload)
            except Exception as exc:
                log.warning("MinIO event stream broke: %s; reconnecting in %.0f s", exc, RECONNECT_PAUSE)
                self._stop.wait(RECONNECT_PAUSE)

    def _handle(self, payload: dict) -> None:
        try:
            events = from_webhook(payload)
        except EventFormatError as exc:
            log.warning("ignored a MinIO event not in the expected shape: %s", exc)
            return
        with self.app.app_context():
            try:
                bucket.handle(events, self.settings)
            except bucket.TransientError as exc:  # this stream never re-sends: the ledger row says 'error'
                log.warning("bucket event not handled: %s", exc)
            finally:
                db.session.remove()

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="ingest-listener", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
