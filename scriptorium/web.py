"""The web role's one command line: the Dockerfile, docker-compose.yml, `scriptorium web` and `scriptorium up`
all start gunicorn through ``gunicorn_argv`` (by running `scriptorium web`)."""
from __future__ import annotations

import sys

THREADS = 4
# gthread workers notify the master from their main loop, not from the request threads, so a long upload or
# download never trips this: it only replaces a worker whose main loop is stuck.
TIMEOUT_S = 60


def gunicorn_argv(bind: str, workers: int) -> list[str]:
    """``python -m gunicorn ... wsgi:app`` serving on ``bind`` with ``workers`` processes."""
    return [sys.executable, "-m", "gunicorn", "--bind", bind, "--workers", str(workers), "--threads", str(THREADS),
            "--timeout", str(TIMEOUT_S), "--no-control-socket", "--access-logfile", "-", "wsgi:app"]
