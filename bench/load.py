"""Load on the web process: 50 uploads at once, status polling, and memory during a 1 GB upload.

    .venv/bin/python bench/load.py                       # gunicorn -w 4, 200 uploads 50 at a time, 10 s polling
    .venv/bin/python bench/load.py --uploads 100 --poll-seconds 5 --big-mb 1024

A throwaway embedded PostgreSQL and Redis, local media storage, and gunicorn serving wsgi:app in production mode
on loopback, as bench/status_bench.py sets them up. No worker runs: this measures the web side (each upload is
streamed to disk, hashed, probed with ffmpeg, stored, recorded and enqueued). The client is Python threads on
the same cores as gunicorn, PostgreSQL and Redis, so the figures are a floor.

1. Uploads: ``--uploads`` distinct 2 s WAVs through POST /api/v1/transcripts, ``--concurrency`` at once.
2. Polling: ``--concurrency`` clients GET /api/v1/transcripts/<id> over the uploaded jobs for ``--poll-seconds``.
3. A ``--big-mb`` file (sparse zeros, so made at once) streamed in one multipart request, while the resident memory
   of every gunicorn process is sampled every 50 ms: memory must stay flat (the body goes to disk, never RAM).
Errors (non-2xx answers, connection failures) are counted and must be 0.
"""
from __future__ import annotations

import argparse
import http.client
import io
import json
import math
import os
import statistics
import struct
import subprocess
import sys
import threading
import time
import wave
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from services import throwaway  # noqa: E402  (bench/services.py)


def tone(seed: int, seconds: float = 2.0, rate: int = 16000) -> bytes:
    """A WAV whose content differs per seed, so every upload is a new job."""
    freq = 180 + 3 * seed
    frames = b"".join(struct.pack("<h", int(6000 * math.sin(2 * math.pi * freq * i / rate)))
                      for i in range(int(rate * seconds)))
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(frames)
    return buf.getvalue()


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[18] if len(values) >= 20 else max(values)


class Client:
    """One keep-alive connection per thread."""

    def __init__(self, port: int, token: str):
        self.port, self.token = port, token
        self.local = threading.local()

    def conn(self) -> http.client.HTTPConnection:
        if getattr(self.local, "conn", None) is None:
            self.local.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        return self.local.conn

    def request(self, method: str, path: str, body=None, headers: dict | None = None) -> tuple[int, float]:
        headers = {"Authorization": f"Bearer {self.token}", **(headers or {})}
        t0 = time.perf_counter()
        try:
            c = self.conn()
            c.request(method, path, body=body, headers=headers)
            resp = c.getresponse()
            resp.read()
            return resp.status, time.perf_counter() - t0
        except (OSError, http.client.HTTPException):
            self.local.conn = None
            return 0, time.perf_counter() - t0


def multipart(name: str, data: bytes) -> tuple[bytes, str]:
    boundary = "scriptorium-bench-boundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n"
            f"Content-Type: audio/wav\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def uploads(client: Client, n: int, concurrency: int) -> tuple[list[int], list[float], float, int]:
    bodies = [multipart(f"talk-{i}.wav", tone(i)) for i in range(n)]
    ids: list[int] = []
    lock = threading.Lock()

    def one(i: int) -> tuple[int, float]:
        body, ctype = bodies[i]
        c = client.conn()
        t0 = time.perf_counter()
        try:
            c.request("POST", "/api/v1/transcripts", body=body,
                      headers={"Authorization": f"Bearer {client.token}", "Content-Type": ctype})
            resp = c.getresponse()
            payload = json.loads(resp.read() or b"{}")
            if resp.status == 201:
                with lock:
                    ids.append(payload["id"])
            return resp.status, time.perf_counter() - t0
        except (OSError, http.client.HTTPException, ValueError):
            client.local.conn = None
            return 0, time.perf_counter() - t0

    t0 = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        results = list(pool.map(one, range(n)))
    wall = time.perf_counter() - t0
    errors = sum(1 for status, _ in results if status != 201)
    return ids, [lat for _, lat in results], wall, errors


def polling(client: Client, ids: list[int], concurrency: int, seconds: float) -> tuple[int, list[float], int]:
    stop = time.monotonic() + seconds
    lat: list[float] = []
    errors = 0
    lock = threading.Lock()

    def loop(k: int) -> None:
        nonlocal errors
        i = k
        while time.monotonic() < stop:
            status, t = client.request("GET", f"/api/v1/transcripts/{ids[i % len(ids)]}")
            with lock:
                lat.append(t)
                errors += status != 200
            i += concurrency

    threads = [threading.Thread(target=loop, args=(k,)) for k in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return len(lat), lat, errors


def big_upload(port: int, token: str, path: Path, procs) -> tuple[int, float, dict]:
    """Stream ``path`` as one multipart upload while sampling the gunicorn processes' RSS."""
    import psutil

    boundary = "scriptorium-bench-big"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{path.name}\"\r\n"
            f"Content-Type: audio/wav\r\n\r\n").encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    size = path.stat().st_size
    before = {p.pid: p.memory_info().rss for p in procs}
    peak = dict(before)
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            for p in procs:
                try:
                    peak[p.pid] = max(peak[p.pid], p.memory_info().rss)
                except psutil.Error:
                    pass
            time.sleep(0.05)

    sampler = threading.Thread(target=sample)
    sampler.start()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    t0 = time.perf_counter()
    conn.putrequest("POST", "/api/v1/transcripts")
    conn.putheader("Authorization", f"Bearer {token}")
    conn.putheader("Content-Type", f"multipart/form-data; boundary={boundary}")
    conn.putheader("Content-Length", str(len(head) + size + len(tail)))
    conn.endheaders()
    conn.send(head)
    with open(path, "rb") as fh:
        while chunk := fh.read(1024 * 1024):
            conn.send(chunk)
    conn.send(tail)
    resp = conn.getresponse()
    answer = resp.read().decode(errors="replace")[:200]
    wall = time.perf_counter() - t0
    done.set()
    sampler.join()
    return resp.status, wall, {"before": before, "peak": peak, "answer": answer}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--uploads", type=int, default=200)
    ap.add_argument("--concurrency", type=int, default=50)
    ap.add_argument("--poll-seconds", type=float, default=10)
    ap.add_argument("--big-mb", type=int, default=1024)
    args = ap.parse_args()

    import psutil

    from webapp import create_app, migrate
    from webapp import settings as settings_mod
    from scriptorium.embedded import free_port, wait_for_port

    services = ExitStack()
    root, pg, redis = services.enter_context(throwaway("scriptorium-load-bench-", database="bench", appendonly=False))
    gunicorn = None
    failed = False
    try:
        migrate.upgrade(pg.url)
        env = {"DATABASE_URL": pg.url, "REDIS_URL": redis.url, "SECRET_KEY": "bench-secret-key-0123456789",
               "SCRIPTORIUM_DATA_DIR": str(root / "data"), "WHISPER_MODEL": "tiny.en"}
        app = create_app(settings=settings_mod.load(env))
        with app.app_context():
            from webapp.services.accounts import create_user

            _, token = create_user("bench", admin=True)
        port = free_port()
        cmd = [str(Path(sys.executable).parent / "gunicorn"), "wsgi:app", "-w", str(args.workers), "-b",
               f"127.0.0.1:{port}", "--no-control-socket", "--log-level", "warning", "--timeout", "600"]
        gunicorn = subprocess.Popen(cmd, cwd=ROOT, env=dict(os.environ, **env, PYTHONPATH=str(ROOT)))
        wait_for_port(port, 30, proc=gunicorn)
        client = Client(port, token)
        for _ in range(4 * args.workers):  # warm up: every worker imports the app and connects
            client.request("GET", "/api/v1/transcripts?limit=1")
        print(f"gunicorn -w {args.workers} (sync) on {os.cpu_count()} cores; client: Python threads, same machine")

        ids, lat, wall, errors = uploads(client, args.uploads, args.concurrency)
        print(f"uploads: {args.uploads} x 2 s WAV ({len(tone(0)) // 1024} KB), {args.concurrency} at once: "
              f"{args.uploads / wall:.1f} uploads/s, p50 {statistics.median(lat) * 1000:.0f} ms, "
              f"p95 {p95(lat) * 1000:.0f} ms, max {max(lat) * 1000:.0f} ms, errors {errors}")
        failed |= errors > 0 or len(ids) != args.uploads

        n, lat, errors = polling(client, ids or [1], args.concurrency, args.poll_seconds)
        print(f"status polling: {args.concurrency} clients, GET /api/v1/transcripts/<id> for {args.poll_seconds:.0f} s: "
              f"{n / args.poll_seconds:.1f} req/s, p50 {statistics.median(lat) * 1000:.1f} ms, "
              f"p95 {p95(lat) * 1000:.1f} ms, errors {errors}")
        failed |= errors > 0

        if args.big_mb:
            big = root / "big.wav"
            with open(big, "wb") as fh:
                fh.truncate(args.big_mb * 1024 * 1024)  # sparse: instant, no disk used until written
            procs = [psutil.Process(gunicorn.pid)] + psutil.Process(gunicorn.pid).children()
            status, wall, mem = big_upload(port, token, big, procs)
            base = max(mem["before"].values()) / 2**20
            grew = max(mem["peak"][pid] - mem["before"][pid] for pid in mem["before"]) / 2**20
            peak = max(mem["peak"].values()) / 2**20
            print(f"{args.big_mb} MB upload (zeros named .wav): HTTP {status} in {wall:.1f} s "
                  f"({args.big_mb / wall:.0f} MB/s); largest gunicorn process {base:.0f} MB before, "
                  f"peak {peak:.0f} MB, largest growth of one process {grew:.1f} MB; answer {mem['answer']!r}")
            failed |= status >= 500 or status == 0
    finally:
        if gunicorn:
            gunicorn.terminate()
            gunicorn.wait(10)
        services.close()
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
