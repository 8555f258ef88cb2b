"""/healthz: is each part the service needs reachable right now?"""
from __future__ import annotations

from flask import Blueprint
from sqlalchemy import text

from webapp import queue, storage
from webapp.extensions import db

bp = Blueprint("health", __name__)


def _check(fn) -> str:
    try:
        fn()
        return "ok"
    except Exception as exc:  # a health check reports, it does not raise
        return f"down: {type(exc).__name__}: {str(exc)[:200]}"


@bp.get("/healthz")
def healthz():
    def database():
        db.session.execute(text("SELECT 1"))
        db.session.rollback()

    checks = {
        "database": _check(database),
        "queue": _check(lambda: queue.connection().ping()),
        "storage": _check(lambda: storage.get().ping()),
    }
    down = [name for name, state in checks.items() if state != "ok"]
    body = {"status": "ok" if not down else "down: " + ", ".join(down), **checks}
    return body, (200 if not down else 503)
