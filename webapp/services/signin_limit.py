"""Sign-in throttling: too many failed sign-ins from one address, or for one account name, and the form waits.

The counts live in Redis (the queue's connection), so every gunicorn worker sees the same numbers and a restart
of the web process does not reset them. Each counter expires ``WINDOW_S`` after its first failure; a successful
sign-in clears both. When Redis cannot be reached the limit is skipped (with a warning) rather than locking
everyone out: the password check itself still runs.
"""
from __future__ import annotations

import logging

from flask import current_app
from redis.exceptions import RedisError

from webapp import queue

log = logging.getLogger("scriptorium.auth")
MAX_FAILURES = 10
WINDOW_S = 600


def _limits() -> tuple[int, int]:
    cfg = current_app.config
    return int(cfg.get("SIGNIN_MAX_FAILURES", MAX_FAILURES)), int(cfg.get("SIGNIN_WINDOW_S", WINDOW_S))


def _keys(ip: str, name: str) -> list[str]:
    return [f"scriptorium:signin:ip:{ip}", f"scriptorium:signin:name:{name.strip().lower()[:200]}"]


def retry_after(ip: str, name: str) -> int | None:
    """Seconds to wait before the next attempt may be checked, or None when it may be checked now."""
    limit, window = _limits()
    try:
        pipe = queue.connection().pipeline(transaction=False)
        for key in _keys(ip, name):
            pipe.get(key)
            pipe.ttl(key)
        found = pipe.execute()
    except RedisError as exc:
        log.warning("sign-in limit skipped, Redis unreachable: %s", exc)
        return None
    waits = [ttl if ttl > 0 else window for count, ttl in zip(found[::2], found[1::2])
             if count is not None and int(count) >= limit]
    return max(waits) if waits else None


def record_failure(ip: str, name: str) -> None:
    """Count one failed attempt against the address and the name."""
    _, window = _limits()
    try:
        conn = queue.connection()
        for key in _keys(ip, name):
            conn.incr(key)
            if conn.ttl(key) < 0:  # first failure in this window (or an expiry lost to a crash)
                conn.expire(key, window)
    except RedisError as exc:
        log.warning("could not count a failed sign-in: %s", exc)


def reset(ip: str, name: str) -> None:
    try:
        queue.connection().delete(*_keys(ip, name))
    except RedisError as exc:
        log.warning("could not clear sign-in failures: %s", exc)
