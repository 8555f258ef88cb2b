"""How long a recording dropped into the watched folder takes to be queued, and to be done.

Starts throwaway embedded PostgreSQL and Redis, a real `scriptorium worker` process (model preloaded, as in
production) and the folder watcher in this process; then copies a ~10 s espeak-ng clip into the inbox a few
times (different words each time, so nothing dedupes) and polls the database every 10 ms.

    .venv/bin/python bench/ingest_latency.py [--model tiny.en|base] [--settle 2.0] [--runs 3]

"queued" = the file's transcript row exists (the job is on the queue): the watcher's latency, mostly the settle
time. "done" = the worker stored the result. Prints one line per run and the medians.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import wave
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SENTENCES = [
    "The quarterly meeting started late because the projector would not connect to anything at all, "
    "so we talked about the budget, the new hires and the roadmap for next spring instead.",
    "Please remember to water the plants on the third floor while the team is away at the conference, "
    "and check that the back door is locked before you leave the building tonight.",
    "Our recording studio now books sessions online, which saves everyone a phone call, and the first "
    "results show that more musicians come back for a second and third visit each month.",
    "The library will close early on Friday for the annual inventory, but the reading room upstairs stays "
    "open until six for anyone who needs a quiet place to study before the exams.",
    "After the storm the engineers inspected every bridge on the northern route and found only minor damage, "
    "so the trains should run on the normal timetable again from Monday morning.",
]


def clip(text: str, out: Path) -> float:
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "160", "-w", str(out), text], check=True)
    with wave.open(str(out)) as w:
        return w.getnframes() / w.getframerate()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="tiny.en")
    ap.add_argument("--settle", type=float, default=2.0, help="WATCH_SETTLE_SECONDS (production default 2)")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()

    from sqlalchemy import select

    from ingest.folder import FolderWatcher
    from webapp import create_app, migrate, settings as settings_mod
    from scriptorium.embedded import EmbeddedPostgres, EmbeddedRedis, free_port
    from webapp.extensions import db
    from webapp.models import Transcript
    from webapp.services.accounts import ensure_admin

    work = Path(tempfile.mkdtemp(prefix="scriptorium-bench-"))
    os.chmod(work, 0o755)
    env = {"SCRIPTORIUM_DATA_DIR": str(work / "data"), "SCRIPTORIUM_PG_PORT": str(free_port()),
           "SCRIPTORIUM_REDIS_PORT": str(free_port()), "WHISPER_MODEL": args.model, "WHISPER_DEVICE": "cpu",
           "WATCH_DIR": str(work / "inbox"), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "PYANNOTE_METRICS_ENABLED": "false"}
    settings = settings_mod.load(env)
    pg = EmbeddedPostgres(work / "pg", int(env["SCRIPTORIUM_PG_PORT"]),
                          password=settings_mod.embedded_db_password(settings.data_dir), fast_unsafe=True)
    redis = EmbeddedRedis(work / "redis", int(env["SCRIPTORIUM_REDIS_PORT"]), appendonly=False)
    worker = watcher = None
    try:
        pg.start()
        redis.start()
        migrate.upgrade(settings.database_url)
        app = create_app(settings=settings)
        with app.app_context():
            ensure_admin()
        worker = subprocess.Popen([sys.executable, "-m", "scriptorium.cli", "worker"], cwd=ROOT,
                                  env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        from rq import Worker

        from webapp import queue

        t0 = time.monotonic()
        with app.app_context():
            while not Worker.all(connection=queue.connection()):  # registers after its model is loaded
                if worker.poll() is not None or time.monotonic() - t0 > 180:
                    raise SystemExit("the worker did not start")
                time.sleep(0.2)
        print(f"worker ready with {args.model} after {time.monotonic() - t0:.1f} s (model preloaded)")
        watcher = FolderWatcher(app, settings.watch_dir, settle=args.settle)
        watcher.start()
        queued, done = [], []
        for i in range(args.runs):
            src = work / f"clip{i}.wav"
            seconds = clip(SENTENCES[i % len(SENTENCES)] + f" Take {i + 1}.", src)
            name = f"recording-{i}.wav"
            start = time.monotonic()
            shutil.copyfile(src, settings.watch_dir / name)
            t_queued = t_done = None
            while t_done is None and time.monotonic() - start < 300:
                with app.app_context():
                    status = db.session.scalar(select(Transcript.status).where(Transcript.title == name))
                    db.session.remove()
                now = time.monotonic() - start
                if status and t_queued is None:
                    t_queued = now
                if status in ("done", "failed"):
                    t_done = now
                    if status == "failed":
                        print("  the job failed")
                time.sleep(0.01)
            queued.append(t_queued)
            done.append(t_done)
            print(f"run {i + 1}: {seconds:.1f} s clip -> queued after {t_queued:.2f} s, done after {t_done:.2f} s")
        print(f"median ({args.model}, settle {args.settle:g} s): queued {statistics.median(queued):.2f} s, "
              f"done {statistics.median(done):.2f} s")
    finally:
        if watcher:
            watcher.stop()
        if worker:
            worker.terminate()
            worker.wait(30)
        redis.stop()
        pg.stop("immediate")
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
