"""Per-stage time, real-time factor and peak memory of the speech pipeline, per model and clip length; and our
transcription stage side by side with a bare WhisperX transcribe of the same audio on the same loaded model.

    .venv/bin/python bench/pipeline_bench.py [--models tiny.en base] [--lengths 60 600] [--diarize]

Each (model, length) runs in a fresh process so peak RSS is per run; the model is loaded (and timed) first, then
the file is transcribed once warm.
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
from clips import clip  # noqa: E402


def one(model: str, path: str, diarize: bool, compare: bool) -> dict:
    os.environ.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PYANNOTE_METRICS_ENABLED="false")
    from worker import audio, pipeline
    from worker.result import Options

    t0 = time.perf_counter()
    pipeline.load_model(model, "cpu", "int8")
    load = time.perf_counter() - t0
    opts = Options(model=model, language="en", diarize=diarize, num_speakers=2 if diarize else None)
    pipeline.transcribe(clip(10), Options(model=model, language="en"), device="cpu", compute_type="int8")  # warm-up
    t0 = time.perf_counter()
    result = pipeline.transcribe(path, opts, device="cpu", compute_type="int8")
    total = time.perf_counter() - t0
    row = {"model": model, "audio_s": result.duration, "load_s": round(load, 2), "total_s": round(total, 2),
           "rtf": round(total / result.duration, 3), "stages": result.timings, "words": sum(len(s.words) for s in result.segments)}
    row["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)  # ours alone
    if compare:
        import whisperx

        from webapp import model_registry as models

        pipe = whisperx.load_model(str(models.resolve(model)), "cpu", compute_type="int8", language="en",
                                   local_files_only=True, vad_method="pyannote", threads=os.cpu_count() or 4)
        samples = audio.load_audio(path)
        pipe.transcribe(samples[: 16000 * 10], batch_size=4, language="en")  # warm-up, as ours was warmed above
        t0 = time.perf_counter()
        pipe.transcribe(samples, batch_size=4, language="en")
        row["whisperx_transcribe_s"] = round(time.perf_counter() - t0, 2)
        row["ours_over_whisperx"] = round(result.timings["transcribe"] / row["whisperx_transcribe_s"], 2)
    return row


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", nargs="+", default=["tiny.en", "base"])
    ap.add_argument("--lengths", nargs="+", type=int, default=[60, 600])
    ap.add_argument("--diarize", action="store_true")
    ap.add_argument("--one", nargs=2, help=argparse.SUPPRESS)
    ap.add_argument("--compare", action="store_true", help="also time a bare whisperx transcribe of the file")
    args = ap.parse_args()
    if args.one:
        print(json.dumps(one(args.one[0], args.one[1], args.diarize, args.compare)))
        return
    print("| model | audio | load | decode | transcribe+words | align/repair | diarize | total | RTF | peak RSS | bare whisperx transcribe | ours/whisperx |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for model in args.models:
        for seconds in args.lengths:
            path = str(clip(seconds))
            cmd = [sys.executable, __file__, "--one", model, path, "--compare"] + (["--diarize"] if args.diarize else [])
            row = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1])
            st = row["stages"]
            print(f"| {model} | {row['audio_s']:.0f} s | {row['load_s']} s | {st.get('decode')} s | {st.get('transcribe')} s | "
                  f"{st.get('align')} s | {st.get('diarize', '-')} | {row['total_s']} s | {row['rtf']} | {row['peak_rss_mb']} MB | "
                  f"{row.get('whisperx_transcribe_s')} s | {row.get('ours_over_whisperx')} |", flush=True)


if __name__ == "__main__":
    main()
