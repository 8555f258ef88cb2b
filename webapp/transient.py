"""Telling a passing outage (database restarting, storage or Redis unreachable) from a real failure, and riding
it out with backoff instead of failing the job."""
from __future__ import annotations

import logging
import time
from typing import Callable, TypeVar

log = logging.getLogger("scriptorium.worker")
T = TypeVar("T")
# Seconds to wait before each new try: about two minutes in all before giving up.
BACKOFF = (0.5, 1, 2, 4, 8, 15, 30, 60)


def is_transient(exc: BaseException) -> bool:
    """True for errors that another try may not meet: connections refused or dropped, timeouts."""
    from redis.exceptions import ConnectionError as RedisConnectionError, TimeoutError as RedisTimeout
    from sqlalchemy.exc import DBAPIError, OperationalError

    if isinstance(exc, (OperationalError, RedisConnectionError, RedisTimeout, ConnectionError, TimeoutError)):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    try:
        from urllib3.exceptions import HTTPError as Urllib3Error

        if isinstance(exc, Urllib3Error):
            return True
    except ImportError:
        pass
    cause = exc.__cause__ or exc.__context__
    return cause is not None and cause is not exc and is_transient(cause)


def retrying(fn: Callable[[], T], backoff: tuple[float, ...] = BACKOFF, what: str = "") -> T:
    """Call ``fn``; on a transient error wait and try again, up to len(backoff) more times."""
    for delay in (*backoff, None):
        try:
            return fn()
        except Exception as exc:
            if delay is None or not is_transient(exc):
                raise
            log.warning("transient error%s: %s: %s; trying again in %s s", f" ({what})" if what else "",
                        type(exc).__name__, str(exc)[:200], delay)
            try:
                from webapp.extensions import db

                db.session.rollback()
            except Exception:
                pass
            time.sleep(delay)
    raise AssertionError("unreachable")
