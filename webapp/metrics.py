"""Prometheus metrics (issue 15 item 4): the metric objects every role updates, the scrape-time collector that
reads PostgreSQL and Redis, and the bearer-token check in front of every exposition.

Where they are exposed:
* the web role: ``GET /metrics`` (webapp/blueprints/metrics.py). Under gunicorn set ``PROMETHEUS_MULTIPROC_DIR``
  to an empty directory and the counters of all gunicorn workers are summed (prometheus_client multiprocess mode);
  the state of the whole service (jobs by status, queue depth, worker heartbeats) is read at scrape time here.
* the worker and the ingester: their own port (``METRICS_PORT``), behind the same token (``serve`` below),
  because in the compose deployment each role is its own container: there is no shared directory to read.
Nothing is exposed without ``METRICS_TOKEN``: prometheus_client's own HTTP server has no authentication, so
``serve`` wraps its WSGI app in the same token check instead of using ``start_http_server``.
"""
from __future__ import annotations

import hmac
import logging
import os
import threading
from typing import Callable, Iterable

# Multiprocess mode (gunicorn): the unlabelled metrics below open their file in this directory as they are
# created, so it must exist first. Only counters and histograms live there (no live gauges), so the files of
# gunicorn workers that have exited keep counting, as counters should.
if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)

from prometheus_client import (  # noqa: E402
    REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest, make_wsgi_app)
from prometheus_client.core import GaugeMetricFamily, Metric  # noqa: E402

log = logging.getLogger("scriptorium.metrics")

DURATION_BUCKETS = (1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, float("inf"))
RTF_BUCKETS = (0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 5, float("inf"))

HTTP_REQUESTS = Counter("scriptorium_http_requests", "HTTP requests answered by the web app",
                        ["endpoint", "method", "status"])
JOBS_FINISHED = Counter("scriptorium_jobs_finished", "Transcription jobs that ended, by outcome", ["outcome"])
JOB_DURATION = Histogram("scriptorium_job_duration_seconds", "Wall time of a transcription job, by outcome",
                         ["outcome"], buckets=DURATION_BUCKETS)
STAGE_DURATION = Histogram("scriptorium_stage_duration_seconds", "Wall time of each pipeline stage", ["stage"],
                           buckets=DURATION_BUCKETS)
AUDIO_SECONDS = Counter("scriptorium_audio_processed_seconds", "Seconds of audio transcribed")
REALTIME_FACTOR = Histogram("scriptorium_realtime_factor", "Job wall time divided by the audio's duration",
                            buckets=RTF_BUCKETS)
INGEST_FILES = Counter("scriptorium_ingest_files", "Files the ingester looked at, by source and outcome",
                       ["source", "outcome"])
WEBHOOK_DELIVERIES = Counter("scriptorium_webhook_deliveries", "Webhook delivery attempts, by outcome",
                             ["outcome"])


def token_ok(header: str | None, token: str | None) -> bool:
    """Whether an ``Authorization`` header carries ``Bearer <token>`` (compared in constant time)."""
    if not token or not header:
        return False
    scheme, _, raw = header.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(raw.strip().encode(), token.encode())


class _ThisProcess:
    """The metrics of this process (the default registry), as one collector of a scrape registry."""

    def collect(self) -> Iterable[Metric]:
        return REGISTRY.collect()


class StateCollector:
    """Read at scrape time: transcripts by status (PostgreSQL), queue depths and worker heartbeats (Redis)."""

    def __init__(self, app):
        self.app = app

    def collect(self) -> Iterable[Metric]:
        from rq import Queue, Worker
        from sqlalchemy import func, select

        from webapp import queue as queue_mod
        from webapp.extensions import db
        from webapp.models import Transcript

        with self.app.app_context():
            jobs = GaugeMetricFamily("scriptorium_jobs", "Transcripts by status", labels=["status"])
            try:
                counts = dict(db.session.execute(select(Transcript.status, func.count()).group_by(Transcript.status)).all())
                for status in ("queued", "running", "done", "failed", "cancelled"):
                    jobs.add_metric([status], counts.get(status, 0))
                yield jobs
            except Exception as exc:  # a scrape must answer even when the database is down
                log.warning("metrics: could not read job counts: %s", exc)
            finally:
                db.session.remove()
            conn = queue_mod.connection()
            depth = GaugeMetricFamily("scriptorium_queue_depth", "Jobs waiting in each RQ queue", labels=["queue"])
            beats = GaugeMetricFamily("scriptorium_worker_last_heartbeat_timestamp_seconds",
                                      "When each RQ worker last reported in (Unix time)", labels=["worker"])
            try:
                for name in (queue_mod.QUEUE_NAME, "webhooks"):
                    depth.add_metric([name], Queue(name, connection=conn).count)
                workers = Worker.all(connection=conn)
                for w in workers:
                    if w.last_heartbeat:
                        beats.add_metric([w.name], w.last_heartbeat.timestamp())
                yield depth
                yield beats
                yield GaugeMetricFamily("scriptorium_workers", "RQ workers registered in Redis", value=len(workers))
            except Exception as exc:
                log.warning("metrics: could not read the queue: %s", exc)


def scrape_registry(extra: Iterable = ()) -> CollectorRegistry:
    """A registry for one exposition: all gunicorn workers' metrics (multiprocess mode) or this process's."""
    registry = CollectorRegistry(auto_describe=False)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(_ThisProcess())
    for collector in extra:
        registry.register(collector)
    return registry


def exposition(extra: Iterable = ()) -> bytes:
    return generate_latest(scrape_registry(extra))


def _guarded(app: Callable, token: str) -> Callable:
    def guarded(environ, start_response):
        if not token_ok(environ.get("HTTP_AUTHORIZATION"), token):
            start_response("401 Unauthorized", [("Content-Type", "text/plain"),
                                                ("WWW-Authenticate", 'Bearer realm="metrics"')])
            return [b"a valid metrics token is required (Authorization: Bearer <METRICS_TOKEN>)\n"]
        return app(environ, start_response)
    return guarded


def serve(port: int, token: str | None, addr: str = "0.0.0.0"):
    """Expose this process's metrics on ``port`` (worker, ingester), behind ``token``. Returns the server, or None
    when there is no token (metrics stay off rather than open to anyone who can reach the port)."""
    if not token:
        log.warning("METRICS_PORT is set but METRICS_TOKEN is not: metrics are not exposed")
        return None
    from wsgiref.simple_server import WSGIRequestHandler, make_server

    from prometheus_client.exposition import ThreadingWSGIServer

    class _Quiet(WSGIRequestHandler):
        def log_message(self, *args) -> None:  # scrapes every 15 s would drown the log
            pass

    server = make_server(addr, port, _guarded(make_wsgi_app(scrape_registry()), token),
                         server_class=ThreadingWSGIServer, handler_class=_Quiet)
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    log.info("metrics on port %d (/metrics, bearer token)", port)
    return server
