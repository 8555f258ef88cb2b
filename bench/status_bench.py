"""Throughput of the job-status fragment (what every open list polls every 2 s) under gunicorn on this machine.

    .venv/bin/python bench/status_bench.py                       # gunicorn -w 4, wrk sweep over connections
    .venv/bin/python bench/status_bench.py --workers 2 --seconds 5

A throwaway embedded PostgreSQL gets the schema, a signed-in person and 50 running jobs; gunicorn serves
wsgi:app in production mode (local storage; Redis is never touched by this route). wrk (apt-get install wrk)
polls GET /transcripts/<id>/status with the htmx header and a session cookie, spread over the 50 jobs, at
rising connection counts; the answer is the highest request rate whose p95 latency stays under 50 ms.
wrk runs on the same two cores as gunicorn and PostgreSQL, so the figures are a floor.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

LUA = r"""
local ids = {}
for i = 1, %(n)d do ids[i] = %(first)d + i - 1 end
local k = 0
request = function()
  k = k + 1
  return wrk.format("GET", "/transcripts/" .. ids[(k %% #ids) + 1] .. "/status?row=1")
end
done = function(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout
  io.write(string.format("RESULT rps=%%.1f p50=%%.2f p95=%%.2f p99=%%.2f non2xx=%%d errors=%%d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000, latency:percentile(95) / 1000,
    latency:percentile(99) / 1000, summary.errors.status, errors))
end
"""


def setup(url: str, jobs: int) -> tuple[int, int]:
    """A person with ``jobs`` running transcripts; returns (user id, first transcript id)."""
    import psycopg

    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO users (name, is_admin, created_at) VALUES ('person', false, now()) RETURNING id")
        uid = cur.fetchone()[0]
        cur.execute("""INSERT INTO media (sha256, size, original_name, mime, storage_key, source, created_at)
                       SELECT md5(g::text) || md5(g::text), 1000, 'talk-' || g || '.wav', 'audio/x-wav',
                              'media/x/' || g, 'upload', now() FROM generate_series(1, %s) g""", (jobs,))
        cur.execute("""INSERT INTO transcripts (owner_id, media_id, title, status, stage, progress, attempts, options,
                                                options_key, timings, created_at, updated_at)
                       SELECT %s, id, original_name, 'running', 'transcribe', 42, 1, '{}', sha256, '{}', now(), now()
                       FROM media ORDER BY id RETURNING id""", (uid,))
        first = min(r[0] for r in cur.fetchall())
    return uid, first


def session_cookie(secret: str, uid: int, url: str) -> str:
    """The signed Flask session cookie of a signed-in person (what /login would set: a live user_sessions row,
    and its random id as Flask-Login's ``_user_id``)."""
    import hashlib
    import secrets

    import psycopg
    from flask import Flask

    sid = secrets.token_urlsafe(32)
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        conn.execute("INSERT INTO user_sessions (sid_hash, user_id, created_at, last_seen_at) VALUES (%s, %s, now(), "
                     "now())", (hashlib.sha256(sid.encode()).hexdigest(), uid))
    app = Flask("cookie")
    app.secret_key = secret
    return app.session_interface.get_signing_serializer(app).dumps({"_user_id": sid})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--seconds", type=int, default=8)
    ap.add_argument("--connections", default="1,2,4,8,16,32")
    ap.add_argument("--jobs", type=int, default=50)
    args = ap.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed: apt-get install -y wrk")

    from webapp import migrate
    from scriptorium.embedded import EmbeddedPostgres, free_port, wait_for_port

    root = Path(tempfile.mkdtemp(prefix="scriptorium-status-bench-"))
    root.chmod(0o755)
    pg = EmbeddedPostgres(root / "pg", free_port(), database="bench", fast_unsafe=True)
    pg.start()
    gunicorn = None
    try:
        migrate.upgrade(pg.url)
        uid, first = setup(pg.url, args.jobs)
        secret = "bench-secret-key-0123456789"
        port = free_port()
        env = dict(os.environ, DATABASE_URL=pg.url, REDIS_URL="redis://127.0.0.1:1/0", SECRET_KEY=secret,
                   SCRIPTORIUM_DATA_DIR=str(root / "data"), PYTHONPATH=str(ROOT))
        cmd = [str(Path(sys.executable).parent / "gunicorn"), "wsgi:app", "-w", str(args.workers), "-b",
               f"127.0.0.1:{port}", "--no-control-socket", "--log-level", "warning"]
        gunicorn = subprocess.Popen(cmd, cwd=ROOT, env=env)
        wait_for_port(port, 30, proc=gunicorn)
        cookie = session_cookie(secret, uid, pg.url)
        script = root / "status.lua"
        script.write_text(LUA % {"n": args.jobs, "first": first})
        base = f"http://127.0.0.1:{port}"
        print(f"gunicorn -w {args.workers} (sync) on {os.cpu_count()} cores; wrk -t2, {args.seconds} s per step; "
              f"GET /transcripts/<id>/status over {args.jobs} running jobs")
        # Warm up: every worker imports the app, opens its database connection and compiles the templates.
        subprocess.run(["wrk", "-t", "2", "-c", "8", "-d", "3s", "-s", str(script), "-H", f"Cookie: session={cookie}",
                        "-H", "HX-Request: true", base], capture_output=True, check=True)
        best = None
        for conns in [int(c) for c in args.connections.split(",")]:
            out = subprocess.run(["wrk", "-t", str(min(2, conns)), "-c", str(conns), "-d", f"{args.seconds}s",
                                  "-s", str(script), "-H", f"Cookie: session={cookie}", "-H", "HX-Request: true",
                                  base], capture_output=True, text=True, check=True).stdout
            m = re.search(r"RESULT rps=([\d.]+) p50=([\d.]+) p95=([\d.]+) p99=([\d.]+) non2xx=(\d+) errors=(\d+)", out)
            rps, p50, p95, p99, non2xx, errors = float(m[1]), float(m[2]), float(m[3]), float(m[4]), int(m[5]), int(m[6])
            print(f"  {conns:>3} connections: {rps:8.1f} req/s  p50 {p50:6.2f} ms  p95 {p95:6.2f} ms  "
                  f"p99 {p99:6.2f} ms  non-2xx {non2xx}  errors {errors}")
            if p95 < 50 and non2xx == 0 and errors == 0 and (best is None or rps > best[0]):
                best = (rps, conns, p95)
            time.sleep(0.5)
        if best:
            print(f"best under p95 50 ms: {best[0]:.0f} req/s at {best[1]} connections (p95 {best[2]:.1f} ms) "
                  f"= {best[0] * 2:.0f} browsers each polling one running job every 2 s")
    finally:
        if gunicorn:
            gunicorn.terminate()
            gunicorn.wait(10)
        pg.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
