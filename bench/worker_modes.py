"""Which RQ worker keeps a queue of files flying: the same N jobs through three worker set-ups.

    .venv/bin/python bench/worker_modes.py [--jobs 5] [--seconds 30] [--model base]

* SimpleWorker, model preloaded (what `scriptorium worker` runs): jobs run in the worker process; the model
  stays loaded from one job to the next.
* Worker (RQ's default): forks a work horse per job; the child imports and loads the model every time.
* Worker with the model preloaded before forking: children inherit the loaded model copy-on-write.

Embedded PostgreSQL and Redis, local storage, real uploads through submit_media; wall time per set-up.
"""
from __future__ import annotations

import argparse
import io
import os
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from clips import clip  # noqa: E402
from services import throwaway  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--jobs", type=int, default=5)
    ap.add_argument("--seconds", type=int, default=30)
    ap.add_argument("--model", default="base")
    ap.add_argument("--hang-after", type=int, default=180, help="seconds before the preload-then-fork run counts as hung")
    args = ap.parse_args()
    os.environ.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PYANNOTE_METRICS_ENABLED="false")
    from rq import Queue, SimpleWorker, SpawnWorker, Worker

    from webapp import create_app, migrate, queue, settings as settings_mod
    from webapp.extensions import db
    from webapp.models import Transcript
    from webapp.services.accounts import create_user
    from webapp.services.submit import requeue, submit_media
    from worker import pipeline, tasks

    with throwaway("bench-workers-") as (tmp, pg, redis):
        # in the environment too: a spawned work horse builds its app from it
        os.environ.update(DATABASE_URL=pg.url, REDIS_URL=redis.url, SECRET_KEY="bench-secret-key-0123456789",
                          SCRIPTORIUM_DATA_DIR=str(tmp / "data"), WHISPER_MODEL=args.model, WHISPER_DEVICE="cpu")
        settings = settings_mod.load()
        migrate.upgrade(settings.database_url)
        app = create_app(settings=settings)
        tasks.set_app(app)
        with app.app_context():
            create_user("admin", admin=True)
            ids = []
            for i in range(args.jobs):
                data = clip(args.seconds, seed=i).read_bytes()
                ids.append(submit_media(io.BytesIO(data), f"clip{i}.wav").transcript.id)
            conn = queue.connection()

        def run(make_worker) -> float:
            with app.app_context():
                for t in db.session.scalars(db.select(Transcript)):
                    if t.status != "queued":
                        requeue(t)
                db.session.remove()
                db.engine.dispose()  # no pooled connection may cross a fork
            t0 = time.perf_counter()
            make_worker().work(burst=True, with_scheduler=False, logging_level="WARNING")
            wall = time.perf_counter() - t0
            with app.app_context():
                db.session.expire_all()
                states = {t.status for t in db.session.scalars(db.select(Transcript))}
            assert states == {"done"}, states
            return wall

        q = Queue(queue.QUEUE_NAME, connection=conn)
        print(f"{args.jobs} jobs x {args.seconds} s, model {args.model}, cpu int8", flush=True)

        def hung(signum, frame):
            raise TimeoutError

        def guarded(name: str, make_worker) -> float | None:
            """Run one set-up; a work horse that makes no progress for --hang-after seconds counts as hung."""
            signal.signal(signal.SIGALRM, hung)
            signal.alarm(args.hang_after)
            try:
                wall = run(make_worker)
                signal.alarm(0)
                print(f"| {name} | {wall:.1f} s |", flush=True)
                return wall
            except TimeoutError:
                import psutil

                for child in psutil.Process().children(recursive=True):
                    if "redis-server" not in " ".join(child.cmdline()):
                        child.kill()
                print(f"| {name} | hung: not finished after {args.hang_after} s |", flush=True)
                return None

        spawn = guarded("SpawnWorker (a fresh process per job: imports and model load every time)",
                        lambda: SpawnWorker([q], connection=conn))
        fork = guarded("Worker (RQ's default: fork per job, model loaded in each child)",
                       lambda: Worker([q], connection=conn))
        t0 = time.perf_counter()
        pipeline.warm([args.model], device="cpu")
        load = time.perf_counter() - t0
        simple = guarded(f"SimpleWorker, model preloaded once (jobs only; add {load:.1f} s for the load)",
                         lambda: SimpleWorker([q], connection=conn))
        if simple is not None:
            simple += load
            print(f"| SimpleWorker including its one model load — `scriptorium worker` | {simple:.1f} s |")
            for name, other in (("SpawnWorker", spawn), ("Worker", fork)):
                if other:
                    print(f"SimpleWorker / {name}: {simple / other:.2f}")


if __name__ == "__main__":
    main()
