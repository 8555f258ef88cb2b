"""Model load time and memory: whisperx.load_model (with its pyannote VAD) vs faster_whisper.WhisperModel.

    .venv/bin/python bench/load_model_cmp.py whisperx     # or: fw
"""
import os, sys, time, resource
os.environ.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PYANNOTE_METRICS_ENABLED="false")
from webapp import model_registry as models
path = str(models.resolve("base"))
t0 = time.perf_counter()
if sys.argv[1] == "whisperx":
    import whisperx
    t1 = time.perf_counter()
    m = whisperx.load_model(path, "cpu", compute_type="int8", language=None, local_files_only=True, vad_method="pyannote", threads=2)
else:
    from faster_whisper import WhisperModel
    t1 = time.perf_counter()
    m = WhisperModel(path, device="cpu", compute_type="int8", cpu_threads=2, local_files_only=True)
t2 = time.perf_counter()
print(sys.argv[1], f"import {t1-t0:.2f}s load {t2-t1:.2f}s total {t2-t0:.2f}s rss {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss//1024} MB")
