"""create_app builds the infrastructure once (flaskr style): one Redis client and queue, one storage client, shared
by every request and thread, instead of a new client (and connection pool) per call."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor


def test_one_redis_client_queue_and_storage_client_for_all_threads(app):
    from webapp import queue, storage

    def grab(_):
        with app.app_context():
            return queue.connection(), queue.get_queue(), storage.get()

    with ThreadPoolExecutor(max_workers=16) as pool:
        seen = list(pool.map(grab, range(64)))
    assert len({id(c) for c, _, _ in seen}) == len({id(q) for _, q, _ in seen}) == len({id(s) for *_, s in seen}) == 1
    conn, q, store = seen[0]
    assert q.connection is conn and q.name == queue.QUEUE_NAME
    assert conn.ping() and store.size("media/00/not-there") is None  # they work, over real connections
