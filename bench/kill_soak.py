"""Repeated worker deaths: 10 jobs, a worker SIGKILLed in the middle of each, new workers started each time.

    .venv/bin/python bench/kill_soak.py                   # 10 jobs, tiny.en, JOB_STALE_AFTER=3
    .venv/bin/python bench/kill_soak.py --jobs 5 --model base

A throwaway embedded PostgreSQL and Redis (append-only), local media storage, espeak-ng clips of ~25 s with
distinct words. One ``scriptorium worker`` process at a time: as soon as it is transcribing a job that has not
been interrupted yet, it is killed with SIGKILL (no chance to tidy up) and a fresh worker is started; its reaper
finds the abandoned job once the heartbeat is ``JOB_STALE_AFTER`` seconds old and queues it again. The run
passes when every job ends done, each killed job ran exactly twice (attempts == 2) and every transcript holds one
result (segment indexes 0..n-1, each once).
"""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from services import throwaway  # noqa: E402  (bench/services.py)
SUBJECTS = ["budget", "harbour", "railway", "library", "hospital", "orchard", "bridge", "market", "museum", "school"]


def clip(dir_: Path, i: int) -> Path:
    subject = SUBJECTS[i % len(SUBJECTS)]
    text = " ".join([f"Report number {i + 1}: the council discussed the {subject} and agreed to meet again."] * 5)
    path = dir_ / f"report-{i + 1}.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(path), text], check=True)
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--jobs", type=int, default=10)
    ap.add_argument("--model", default="tiny.en")
    ap.add_argument("--stale", type=int, default=3, help="JOB_STALE_AFTER for the workers (seconds)")
    args = ap.parse_args()

    from sqlalchemy import func, select

    from webapp import create_app, migrate
    from webapp import settings as settings_mod
    from webapp.extensions import db
    from webapp.models import Segment, Transcript

    services = ExitStack()
    root, pg, redis = services.enter_context(throwaway("scriptorium-kill-soak-", database="soak", appendonly=True))
    worker = None
    logs = []
    ok = False
    try:
        migrate.upgrade(pg.url)
        env = {"DATABASE_URL": pg.url, "REDIS_URL": redis.url, "SECRET_KEY": "soak-secret-key-0123456789",
               "SCRIPTORIUM_DATA_DIR": str(root / "data"), "WHISPER_MODEL": args.model, "WHISPER_DEVICE": "cpu",
               "JOB_STALE_AFTER": str(args.stale), "JOB_ATTEMPTS": "3"}
        app = create_app(settings=settings_mod.load(env))
        clips_dir = root / "clips"
        clips_dir.mkdir()
        with app.app_context():
            from webapp.services.accounts import create_user
            from webapp.services.submit import submit_media

            owner, _ = create_user("soak", admin=True)
            ids = []
            for i in range(args.jobs):
                with open(clip(clips_dir, i), "rb") as fh:
                    ids.append(submit_media(fh, f"report-{i + 1}.wav", "upload", {}, owner=owner).transcript.id)
            db.session.remove()

        def rows() -> dict[int, tuple[str, str | None, int]]:
            with app.app_context():
                out = {t.id: (t.status, t.stage, t.attempts) for t in db.session.scalars(select(Transcript))}
                db.session.remove()
                return out

        proc_env = dict(os.environ, **env, PYTHONUNBUFFERED="1", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
                        PYANNOTE_METRICS_ENABLED="false")

        def start_worker(n: int) -> subprocess.Popen:
            log = open(root / f"worker-{n}.log", "w")
            logs.append(log)
            return subprocess.Popen([sys.executable, "-m", "scriptorium.cli", "worker"], cwd=ROOT, env=proc_env,
                                    stdout=log, stderr=subprocess.STDOUT)

        t0 = time.monotonic()
        killed: list[int] = []
        worker = start_worker(0)
        while len(killed) < args.jobs:
            state = rows()
            victims = [tid for tid, (status, stage, _) in state.items()
                       if status == "running" and stage == "transcribe" and tid not in killed]
            if victims:
                worker.send_signal(signal.SIGKILL)
                worker.wait()
                killed.append(victims[0])
                print(f"{time.monotonic() - t0:6.1f} s  killed the worker transcribing job {victims[0]} "
                      f"({len(killed)}/{args.jobs})", flush=True)
                worker = start_worker(len(killed))
            elif all(status == "done" for status, _, _ in state.values()):
                break
            elif time.monotonic() - t0 > 60 * args.jobs:
                raise SystemExit(f"no progress: {state}")
            time.sleep(0.05)
        while not all(status in ("done", "failed") for status, _, _ in rows().values()):
            if time.monotonic() - t0 > 60 * args.jobs:
                raise SystemExit(f"jobs did not finish: {rows()}")
            time.sleep(0.2)
        wall = time.monotonic() - t0

        state = rows()
        with app.app_context():
            seg = {tid: db.session.scalars(select(Segment.idx).where(Segment.transcript_id == tid)).all()
                   for tid in ids}
            n_segments = db.session.scalar(select(func.count()).select_from(Segment))
        done = sum(1 for status, _, _ in state.values() if status == "done")
        attempts = [state[tid][2] for tid in ids]
        one_result = all(sorted(s) == list(range(len(s))) and s for s in seg.values())
        twice_exactly = all(state[tid][2] == 2 for tid in killed)
        print(f"{args.jobs} jobs, {len(killed)} workers SIGKILLed mid-transcription, {len(killed) + 1} workers "
              f"started, JOB_STALE_AFTER={args.stale}: {done}/{args.jobs} done in {wall:.0f} s; attempts {attempts}; "
              f"{n_segments} segments, one result per transcript: {one_result}; killed jobs ran exactly twice: "
              f"{twice_exactly}")
        ok = done == args.jobs and one_result and twice_exactly and len(killed) == args.jobs
    finally:
        if worker and worker.poll() is None:
            worker.terminate()
            worker.wait(30)
        for log in logs:
            log.close()
        services.close()
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
