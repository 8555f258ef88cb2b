"""N one-minute files through one warm process vs the `whisperx` command line run once per file.

    .venv/bin/python bench/warm_vs_cli.py [--files 10] [--seconds 60] [--model base]

Both use the same model folder, device (cpu), compute type (int8), batch size (4) and language (en). The warm
path is `scriptorium transcribe` given all files at once (the same pipeline and model cache a worker uses): it
also times every word. The WhisperX CLI runs with --no_align (its aligner needs a model download) and so gives
segment times only. The figure that matters is the ratio, measured in one run on one machine.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from clips import clip  # noqa: E402

VENV_BIN = Path(sys.executable).parent


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=10)
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--model", default="base")
    args = ap.parse_args()
    from webapp import model_registry as models

    model_dir = str(models.resolve(args.model))
    files = [clip(args.seconds, seed=i) for i in range(args.files)]
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PYANNOTE_METRICS_ENABLED="false")
    with tempfile.TemporaryDirectory() as out:
        # the whisperx CLI shells out to `ffmpeg`: give it the same binary our pipeline uses
        from worker.audio import ffmpeg_exe

        os.symlink(ffmpeg_exe(), Path(out) / "ffmpeg")
        env["PATH"] = f"{out}{os.pathsep}{env['PATH']}"
        t0 = time.perf_counter()
        subprocess.run([str(VENV_BIN / "scriptorium"), "transcribe", *map(str, files), "--model", args.model,
                        "--language", "en", "--format", "json", "--output-dir", out], check=True, env=env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        warm = time.perf_counter() - t0
        t0 = time.perf_counter()
        for f in files:
            subprocess.run([str(VENV_BIN / "whisperx"), str(f), "--model", model_dir, "--device", "cpu",
                            "--compute_type", "int8", "--batch_size", "4", "--language", "en", "--no_align",
                            "--vad_method", "pyannote", "--output_format", "txt", "--output_dir", out],
                           check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        cli = time.perf_counter() - t0
    print(f"files: {args.files} x {args.seconds} s, model {args.model}, cpu int8, batch 4")
    print(f"warm (scriptorium transcribe, one process, word timing on): {warm:.1f} s")
    print(f"whisperx CLI once per file (--no_align):                    {cli:.1f} s")
    print(f"ratio warm/cli: {warm / cli:.2f}  (target <= 0.35)")


if __name__ == "__main__":
    main()
