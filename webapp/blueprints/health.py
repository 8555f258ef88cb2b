"""/healthz: is each part the service needs reachable right now?

Public (load balancers ask it without credentials), so it says only which part is down; the exception, which
can name hosts, ports and users, goes to the log with the request id.
"""
from __future__ import annotations

import logging

from flask import Blueprint, g
from sqlalchemy import text

from webapp import queue, storage
from webapp.extensions import db

bp = Blueprint("health", __name__)
log = logging.getLogger("scriptorium.health")


def _check(name: str, fn) -> str:
    try:
        fn()
        return "ok"
    except Exception as exc:  # a health check reports, it does not raise
        log.warning("health check %s failed (request %s): %s: %s", name, g.get("request_id"),
                    type(exc).__name__, exc)
        return "down"


@bp.get("/healthz")
def healthz():
    def database():
        db.session.execute(text("SELECT 1"))
        db.session.rollback()

    checks = {
        "database": _check("database", database),
        "queue": _check("queue", lambda: queue.connection().ping()),
        "storage": _check("storage", lambda: storage.get().ping()),
    }
    down = [name for name, state in checks.items() if state != "ok"]
    body = {"status": "ok" if not down else "down: " + ", ".join(down), **checks}
    return body, (200 if not down else 503)
