"""``scriptorium ingest``: the watched folder, results delivery and the optional bucket-event consumers, in one
process configured from the settings (see the README's ingestion section).
"""
from __future__ import annotations

import logging
import signal
import sys
import threading

from flask import Flask

from ingest.folder import FolderWatcher
from ingest.results import Delivery, deliver_pending
from webapp.extensions import db
from webapp.settings import Settings

log = logging.getLogger("scriptorium.ingest")
DELIVER_EVERY = 5.0  # seconds between looks for finished transcripts to hand back


class ResultsLoop:
    """Every few seconds, write finished transcripts back beside their sources (when a setting asks)."""

    def __init__(self, app: Flask, cfg: Delivery, every: float = DELIVER_EVERY):
        self.app, self.cfg, self.every = app, cfg, every
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> int:
        with self.app.app_context():
            try:
                return deliver_pending(self.cfg)
            finally:
                db.session.remove()

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            try:
                self.run_once()
            except Exception:
                log.exception("results delivery failed; retrying")

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="ingest-results", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)


def delivery_for(settings: Settings) -> Delivery | None:
    if settings.watch_dir is None:
        return None
    return Delivery(root=settings.watch_dir, output=settings.watch_output, formats=settings.watch_output_formats,
                    move_done=settings.watch_move_done)


def build(app: Flask) -> list:
    """The parts the settings turn on, not started yet (each has start() and stop())."""
    s: Settings = app.config["SCRIPTORIUM"]
    parts: list = []
    if s.watch_dir is not None:
        delivery = delivery_for(s)
        output_dir = (s.watch_output,) if s.watch_output not in ("off", "beside") else ()
        parts.append(FolderWatcher(app, s.watch_dir, settle=s.watch_settle_seconds, polling=s.watch_polling,
                                   threads=s.ingest_threads, rescan=s.watch_rescan_seconds,
                                   ignore_dirs=output_dir))
        if delivery.enabled:
            parts.append(ResultsLoop(app, delivery))
    if s.minio_webhook_token:  # POST /hooks/minio only queues the events: they are handled here
        from ingest.redis_events import RedisEventConsumer
        from webapp.bucket_events import HOOK_EVENTS_KEY

        parts.append(RedisEventConsumer(app, s.redis_url, HOOK_EVENTS_KEY))
    if s.minio_redis_url:
        from ingest.redis_events import RedisEventConsumer

        parts.append(RedisEventConsumer(app, s.minio_redis_url, s.minio_redis_key))
    if s.minio_listen:
        from ingest.listener import BucketListener

        parts.append(BucketListener(app))
    return parts


def configure_logging() -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)


def main(app: Flask) -> None:
    """Run until SIGTERM or Ctrl-C."""
    parts = build(app)
    if not parts:
        raise SystemExit("scriptorium ingest: nothing to do; set WATCH_DIR, MINIO_WEBHOOK_TOKEN, MINIO_REDIS_URL "
                         "or MINIO_LISTEN")
    configure_logging()
    stopping = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopping.set())
    settings = app.config["SCRIPTORIUM"]
    if settings.metrics_port:  # this role's own metrics port (README "Metrics")
        from webapp import metrics

        metrics.serve(settings.metrics_port, settings.metrics_token)
    for part in parts:
        part.start()
    while not stopping.wait(1.0):
        pass
    log.info("stopping")
    for part in reversed(parts):
        part.stop()
