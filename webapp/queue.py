"""The RQ queue. Jobs are enqueued by dotted name with plain ids, never objects (the web never imports torch)."""
from __future__ import annotations

from flask import Flask, current_app
from redis import Redis
from rq import Queue, Retry

QUEUE_NAME = "transcribe"
TASK = "worker.tasks.transcribe"
# A generous ceiling per job; the media's duration raises it (RQ's 180 s default would kill long files).
BASE_TIMEOUT = 30 * 60
FAILURE_TTL = 7 * 24 * 3600
RESULT_TTL = 24 * 3600


def init_app(app: Flask) -> None:
    """Build the app's one Redis client (it pools its connections, and is thread-safe) and its one queue.

    Done once here by the app factory, so no request or thread ever races to create them; nothing connects yet.
    """
    conn = Redis.from_url(app.config["REDIS_URL"], socket_connect_timeout=3, socket_timeout=10,
                          health_check_interval=30)
    app.extensions["scriptorium.redis"] = conn
    app.extensions["scriptorium.queue"] = Queue(QUEUE_NAME, connection=conn)


def connection() -> Redis:
    """The current app's Redis client (built by ``create_app``)."""
    return current_app.extensions["scriptorium.redis"]


def get_queue() -> Queue:
    """The current app's ``transcribe`` queue (built by ``create_app``)."""
    return current_app.extensions["scriptorium.queue"]


def timeout_for(duration: float | None) -> int:
    """Seconds a job may run: a base plus 3x the recording's length (CPU transcription is ~0.1x real time)."""
    return int(BASE_TIMEOUT + 3 * (duration or 0))


def enqueue_transcription(transcript_id: int, duration: float | None = None, job_id: str | None = None) -> str:
    """Put one transcription job on the queue and return its RQ job id."""
    job = get_queue().enqueue(
        TASK,
        transcript_id,
        job_id=job_id,
        job_timeout=timeout_for(duration),
        failure_ttl=FAILURE_TTL,
        result_ttl=RESULT_TTL,
        description=f"transcribe transcript {transcript_id}",
    )
    return job.id


__all__ = ["QUEUE_NAME", "Retry", "connection", "enqueue_transcription", "get_queue", "init_app", "timeout_for"]
