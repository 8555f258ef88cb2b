"""``scriptorium worker``: one process that loads its models once and runs jobs one after another.

RQ's SimpleWorker runs each job in this process instead of a forked child, so the WhisperX model stays loaded
between jobs (a fork per job would reload it, ~7 s, unless preloaded before forking).
"""
from __future__ import annotations

import logging
import os
import sys
import threading

from redis import Redis
from rq import Queue, SimpleWorker, get_current_job

from webapp import queue as queue_mod


class JobIdFilter(logging.Filter):
    """Stamps every log line with the RQ job id it belongs to (or '-')."""

    def filter(self, record: logging.LogRecord) -> bool:
        job = get_current_job()
        record.job_id = job.id if job else "-"
        return True


def configure_logging(level: int = logging.INFO) -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.addFilter(JobIdFilter())
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s [job %(job_id)s] %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


def make_worker(app, name: str | None = None) -> SimpleWorker:
    from worker import tasks

    tasks.set_app(app)
    # Its own client: RQ blocks on Redis for up to its dequeue timeout (~7 min) waiting for a job and sets its
    # client's socket timeout above that, but the app's client gives up on a command after 10 s, and connections it
    # had already opened (the model announcer's, the reaper's) kept that: an idle worker's wait timed out on one and
    # the worker quit ("Redis connection timeout, quitting"; `up --workers 2` sometimes ran one).
    conn = Redis.from_url(app.config["REDIS_URL"], socket_connect_timeout=3, health_check_interval=30)
    # Webhook deliveries first: each is a short POST, and should not wait behind a queue of long recordings.
    from webapp.services.webhooks import QUEUE_NAME as WEBHOOKS

    return SimpleWorker([Queue(WEBHOOKS, connection=conn), Queue(queue_mod.QUEUE_NAME, connection=conn)],
                        connection=conn, name=name)


ANNOUNCE_INTERVAL = 15.0  # seconds between "these are my models" announcements (see model_registry)


class ModelAnnouncer(threading.Thread):
    """Tells Redis, every ANNOUNCE_INTERVAL, which models this worker holds, so the web can show it."""

    def __init__(self, app, interval: float = ANNOUNCE_INTERVAL):
        super().__init__(name="model-announcer", daemon=True)
        self.app, self.interval = app, interval
        self._stop_event = threading.Event()

    def announce(self) -> None:
        from webapp import model_registry
        from worker import pipeline
        from worker.tasks import _me

        with self.app.app_context():
            model_registry.announce_worker_models(queue_mod.connection(), _me(), pipeline.loaded_models())

    def run(self) -> None:
        while True:
            try:
                self.announce()
            except Exception as exc:  # Redis down: say it next time
                logging.getLogger("scriptorium.worker").warning("could not announce models: %s", exc)
            if self._stop_event.wait(self.interval):
                return

    def stop(self) -> None:
        self._stop_event.set()


class RetryScheduler(threading.Thread):
    """Puts retries whose backoff has passed (webhook deliveries: RQ ``Retry`` with intervals) back on their
    queue, every ``interval`` seconds. RQ's own scheduler does the same from a forked process, which a SIGKILLed
    worker would leave behind as an orphan; this is RQ's ``RQScheduler`` driven from a thread instead, under the
    same per-queue Redis lock, so with many workers one moves each job once."""

    def __init__(self, app, interval: float = 2.0):
        super().__init__(name="retry-scheduler", daemon=True)
        self.app, self.interval = app, interval
        self._stop_event = threading.Event()

    def run(self) -> None:
        from rq.scheduler import RQScheduler

        from webapp.services.webhooks import QUEUE_NAME as WEBHOOKS

        with self.app.app_context():
            conn = queue_mod.connection()
        scheduler = RQScheduler([WEBHOOKS, queue_mod.QUEUE_NAME], connection=conn, interval=int(self.interval) or 1)
        while not self._stop_event.wait(self.interval):
            try:
                if scheduler.acquire_locks():
                    scheduler.enqueue_scheduled_jobs()
            except Exception as exc:  # Redis down: the next pass tries again
                logging.getLogger("scriptorium.worker").warning("could not move scheduled retries: %s", exc)
        try:
            scheduler.release_locks()
        except Exception:
            pass

    def stop(self) -> None:
        self._stop_event.set()


def run(app, *, burst: bool = False, preload: bool = True) -> None:
    """Preload the default model, then work the queue until stopped (or empty, with ``burst``)."""
    configure_logging()
    settings = app.config["SCRIPTORIUM"]
    if settings.worker_threads:  # torch (speaker embeddings) too, not only the Whisper model: read at its import
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ.setdefault(var, str(settings.worker_threads))
    from worker import pipeline

    pipeline.set_max_models(settings.worker_max_models)
    if preload:
        try:
            pipeline.load_model(settings.whisper_model, settings.whisper_device, settings.whisper_compute_type,
                                cpu_threads=settings.worker_threads,  # the threads jobs ask for (WORKER_THREADS)
                                allowed_paths=(*settings.whisper_model_paths, settings.whisper_model))
        except Exception as exc:  # a missing model fails the jobs that ask for it, with words; keep serving
            logging.getLogger("scriptorium.worker").error("could not preload %s: %s", settings.whisper_model, exc)
    from worker.reaper import Reaper

    if settings.metrics_port:
        from webapp import metrics

        metrics.serve(settings.metrics_port, settings.metrics_token)
    reaper, announcer, retries = Reaper(app), ModelAnnouncer(app), RetryScheduler(app)
    reaper.start()
    announcer.start()
    retries.start()
    try:
        make_worker(app).work(burst=burst, with_scheduler=False, logging_level="INFO")
    finally:
        reaper.stop()
        announcer.stop()
        retries.stop()
