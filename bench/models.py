"""Speed of each installed Whisper model on this machine's CPU: the figures behind WHISPER_MODEL=auto.

    .venv/bin/python bench/models.py [--models tiny.en base] [--seconds 60]

Each model runs in a fresh process (int8, warm, words on, English): wall-clock real-time factor, and CPU seconds
per audio second (user + sys of the process), which a busy shared machine inflates far less than wall time: on
N otherwise idle cores the real-time factor is about cpu_per_audio_s / N. Also peak RSS and the load average.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from clips import clip


def one(model: str, path: str) -> dict:
    os.environ.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PYANNOTE_METRICS_ENABLED="false")
    from worker import pipeline
    from worker.result import Options

    opts = Options(model=model, language="en")
    pipeline.load_model(model, "cpu", "int8")
    pipeline.transcribe(clip(10), opts, device="cpu", compute_type="int8")  # warm-up
    r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    result = pipeline.transcribe(path, opts, device="cpu", compute_type="int8")
    wall, r1 = time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_SELF)
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    return {"model": model, "audio_s": round(result.duration, 1), "wall_s": round(wall, 2),
            "rtf": round(wall / result.duration, 3), "cpu_per_audio_s": round(cpu / result.duration, 3),
            "peak_rss_mb": round(r1.ru_maxrss / 1024), "load_avg": round(os.getloadavg()[0], 1)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", nargs="+", default=None, help="default: every installed model")
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--one", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(one(*args.one)))
        return
    from webapp import model_registry

    names = args.models or list(model_registry.installed())
    path = str(clip(args.seconds))
    print(f"cores: {len(os.sched_getaffinity(0))}")
    print("| model | audio | wall | RTF (wall) | CPU s per audio s | est. RTF on 2 idle cores | peak RSS | load avg |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for name in names:
        out = subprocess.run([sys.executable, __file__, "--one", name, path], capture_output=True, text=True, check=True)
        row = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"| {name} | {row['audio_s']} s | {row['wall_s']} s | {row['rtf']} | {row['cpu_per_audio_s']} | "
              f"{row['cpu_per_audio_s'] / 2:.3f} | {row['peak_rss_mb']} MB | {row['load_avg']} |", flush=True)


if __name__ == "__main__":
    main()
