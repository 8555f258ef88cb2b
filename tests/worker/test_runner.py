"""The worker process's RQ worker (worker/runner.py): real Redis."""
from __future__ import annotations

import logging


def test_an_idle_worker_keeps_waiting_for_work_past_the_apps_redis_timeout(app, monkeypatch, caplog):
    """The app's Redis client gives up on a command after a few seconds, while a worker waiting for a job blocks on
    Redis much longer. A worker that waited on a connection the app's client had already opened (the model
    announcer's, the reaper's) timed out and quit: `scriptorium up --workers 2` sometimes ran one worker."""
    from redis import Redis

    from worker.runner import make_worker

    short = Redis.from_url(app.config["REDIS_URL"], socket_timeout=1)  # the app's client, with a shorter timeout
    pool = short.connection_pool  # connections opened with it, as the announcer's and the reaper's threads open
    opened = [pool.get_connection("PING") for _ in range(3)]  # them before the worker starts
    for c in opened:
        c.connect()
        pool.release(c)
    monkeypatch.setitem(app.extensions, "scriptorium.redis", short)
    worker = make_worker(app)
    with caplog.at_level(logging.INFO, logger="rq.worker"):
        worker.work(burst=False, max_idle_time=3, with_scheduler=False)
    assert "Redis connection timeout" not in caplog.text
    assert "idle for 3 seconds, quitting" in caplog.text
