"""Diarization quality and cost on real speech: DER with and without the count, the count found, time, and the
time and peak memory of diarization alone by recording length.

Real recordings used (nothing synthetic):
- pyannote.audio's `sample/sample.wav` + `sample.rttm` (2 speakers, 30 s, inside the installed package).
- Debian's `asterisk-core-sounds-{en,fr,it,es}-g722` (CC-BY-SA-3.0; 16 kHz recordings of professional voices:
  Allison Smith in US English and Mexican Spanish, June Wallack in Canadian French, Carlo in Italian;
  `apt-get install asterisk-core-sounds-en-g722 asterisk-core-sounds-fr-g722 asterisk-core-sounds-it-g722
  asterisk-core-sounds-es-g722`). Single-speaker files are one voice's prompts back to back; conversations are
  assembled from turns of different voices with a known script, so their reference RTTM is exact.

    nice -n 10 .venv/bin/python bench/diarization.py quality          # DER / count table
    nice -n 10 .venv/bin/python bench/diarization.py length 600 3600  # time + peak RSS by length (one process each)
    nice -n 10 .venv/bin/python bench/diarization.py pipeline 7200 [--model=base]  # speakers vs transcription
"""
from __future__ import annotations

import functools
import json
import random
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

SR = 16000
SOUNDS = Path("/usr/share/asterisk/sounds")
VOICES = {"allison-en": "en_US_f_Allison", "allison-es": "es_MX_f_Allison", "june-fr": "fr_CA_f_June",
          "carlo-it": "it_IT_m_Carlo"}
PROMPTS = ["demo-instruct", "priv-callee-options", "demo-congrats", "vm-options", "conf-adminmenu", "demo-echotest",
           "screen-callee-options", "conf-usermenu", "dir-intro", "demo-abouttotry", "demo-moreinfo", "vm-opts-full",
           "demo-nogo", "tt-allbusy", "vm-review", "vm-instructions", "vm-intro", "vm-newuser", "vm-intro",
           "vm-msginstruct", "dir-intro-fn", "vm-rec-unv", "vm-record-prepend"]
GAP_S = 0.4


@dataclass
class Recording:
    name: str
    wav: np.ndarray
    turns: list[tuple[float, float, str]]  # reference

    @property
    def speakers(self) -> int:
        return len({t[2] for t in self.turns})


def _decode(path: Path) -> np.ndarray:
    from worker.audio import ffmpeg_exe

    out = subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(path), "-ac", "1", "-ar", str(SR), "-f", "s16le",
                          "-"], check=True, capture_output=True).stdout
    return np.frombuffer(out, dtype="<i2").astype(np.float32) / 32768.0


def _trim(x: np.ndarray, floor: float = 0.01) -> np.ndarray:
    """Cut leading/trailing silence (20 ms frames below `floor` peak)."""
    frames = np.abs(x[: len(x) // 320 * 320]).reshape(-1, 320).max(axis=1)
    loud = np.flatnonzero(frames > floor)
    return x[loud[0] * 320:(loud[-1] + 1) * 320] if len(loud) else x[:0]


@functools.cache
def prompt(voice: str, name: str) -> np.ndarray | None:
    path = SOUNDS / VOICES[voice] / f"{name}.g722"
    return _trim(_decode(path)) if path.exists() else None


@functools.cache
def pyannote_sample() -> Recording:
    import pyannote.audio

    d = Path(pyannote.audio.__file__).parent / "sample"
    turns = []
    for line in (d / "sample.rttm").read_text().splitlines():
        f = line.split()
        turns.append((float(f[3]), float(f[3]) + float(f[4]), f[7]))
    return Recording("pyannote-sample", _decode(d / "sample.wav"), turns)


def pyannote_speaker(label: str) -> np.ndarray:
    """One speaker's turns of pyannote's sample that no other turn overlaps, back to back."""
    rec = pyannote_sample()
    parts = []
    for s, e, who in rec.turns:
        if who != label:
            continue
        for s2, e2, w2 in rec.turns:
            if w2 != label and s2 < e and e2 > s:  # cut the overlapped part away
                if s2 <= s:
                    s = max(s, e2)
                else:
                    e = min(e, s2)
        if e - s > 0.3:
            parts.append(rec.wav[int(s * SR):int(e * SR)])
    return np.concatenate(parts)


def single(name: str, voice: str, seconds: float) -> Recording:
    parts, total = [], 0.0
    for p in PROMPTS:
        x = prompt(voice, p)
        if x is None or len(x) < SR:
            continue
        parts += [x, np.zeros(int(GAP_S * SR), np.float32)]
        total += len(x) / SR + GAP_S
        if total >= seconds:
            break
    wav = np.concatenate(parts[:-1])
    return Recording(name, wav, [(0.0, len(wav) / SR, voice)])


def conversation(name: str, voices: list[str], turns: int, seed: int) -> Recording:
    """Turns of real single-speaker prompts, speakers in a seeded random script (no speaker twice in a row)."""
    rng = random.Random(seed)
    pools = {v: [p for p in PROMPTS if (x := prompt(v, p)) is not None and len(x) >= SR] for v in voices}
    used = {v: 0 for v in voices}
    wav, ref, t, last = [], [], 0.0, None
    for i in range(turns):
        v = voices[i] if i < len(voices) else rng.choice([x for x in voices if x != last])
        p = pools[v][used[v] % len(pools[v])]
        used[v] += 1
        x = prompt(v, p)
        wav += [x, np.zeros(int(GAP_S * SR), np.float32)]
        ref.append((t, t + len(x) / SR, v))
        t += len(x) / SR + GAP_S
        last = v
    return Recording(name, np.concatenate(wav), ref)


def recordings() -> list[Recording]:
    out = [pyannote_sample()]
    a, b = pyannote_speaker("speaker90"), pyannote_speaker("speaker91")
    out.append(Recording("pyannote-speaker90-only", a, [(0.0, len(a) / SR, "speaker90")]))
    if (SOUNDS / VOICES["allison-en"]).exists():
        out += [
            single("allison-en-90s", "allison-en", 90),
            single("june-fr-90s", "june-fr", 90),
            single("carlo-it-90s", "carlo-it", 90),
            conversation("conv2-allison-carlo", ["allison-en", "carlo-it"], 14, 1),
            conversation("conv2-june-allison", ["june-fr", "allison-en"], 14, 2),
            conversation("conv3-allison-june-carlo", ["allison-en", "june-fr", "carlo-it"], 18, 3),
            conversation("conv3-carlo-june-allison", ["carlo-it", "june-fr", "allison-en"], 24, 4),
        ]
        # four real voices: the asterisk three plus pyannote's speaker91 (its turns as one prompt-sized piece each)
        conv = conversation("conv4-with-pyannote91", ["allison-en", "june-fr", "carlo-it"], 15, 5)
        pieces, ref, t = [], [], 0.0
        b_parts = np.array_split(b, 4)
        for i, (s, e, v) in enumerate(conv.turns):
            pieces += [conv.wav[int(s * SR):int(e * SR)], np.zeros(int(GAP_S * SR), np.float32)]
            ref.append((t, t + (e - s), v))
            t += e - s + GAP_S
            if i % 4 == 1 and b_parts:
                x = b_parts.pop(0)
                pieces += [x, np.zeros(int(GAP_S * SR), np.float32)]
                ref.append((t, t + len(x) / SR, "speaker91"))
                t += len(x) / SR + GAP_S
        out.append(Recording("conv4-allison-june-carlo-pyannote91", np.concatenate(pieces), ref))
    return out


def der(rec: Recording, turns: list[tuple[float, float, int]]) -> float:
    from pyannote.core import Annotation, Segment
    from pyannote.metrics.diarization import DiarizationErrorRate

    ref, hyp = Annotation(), Annotation()
    for s, e, who in rec.turns:
        ref[Segment(s, e)] = who
    for s, e, k in turns:
        hyp[Segment(s, e)] = f"S{k}"
    return float(DiarizationErrorRate(collar=0.25, skip_overlap=False)(ref, hyp))


def quality() -> list[dict]:
    from worker.diarize import embed, offline_diarization
    from worker.result import Options

    rows = []
    for rec in recordings():
        row = {"file": rec.name, "seconds": round(len(rec.wav) / SR, 1), "speakers": rec.speakers}
        t = time.perf_counter()
        windows = embed(rec.wav)
        row["embed_s"] = round(time.perf_counter() - t, 2)
        t = time.perf_counter()
        found = offline_diarization(None, Options(), windows=windows)
        row["cluster_s"] = round(time.perf_counter() - t, 2)
        row["found"] = found.estimated
        row["der_detect"] = round(der(rec, found.turns), 3)
        told = offline_diarization(None, Options(num_speakers=rec.speakers), windows=windows)
        row["der_told"] = round(der(rec, told.turns), 3)
        row["vectors"] = found.vectors
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def long_speech(seconds: float) -> np.ndarray:
    """Real speech (the 3-voice conversation, then pyannote's sample) repeated to `seconds`."""
    recs = recordings()
    base = np.concatenate([r.wav for r in recs if r.name.startswith("conv3")] + [recs[0].wav])
    reps = int(np.ceil(seconds * SR / len(base)))
    out = np.empty(int(seconds * SR), np.float32)
    for i in range(reps):
        a = i * len(base)
        out[a:a + len(base)] = base[:max(0, min(len(base), len(out) - a))]
    return out


def length(seconds: float) -> dict:
    """Run in its own process: time and peak RSS of diarization alone (audio and encoder already loaded)."""
    from worker.diarize import encoder, offline_diarization
    from worker.result import Options

    wav = long_speech(seconds)
    encoder()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    with open("/proc/self/status") as f:
        rss_now = next(int(x.split()[1]) / 1024 for x in f if x.startswith("VmRSS"))
    t = time.perf_counter()
    d = offline_diarization(wav, Options())
    elapsed = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    row = {"seconds": seconds, "time_s": round(elapsed, 1), "rss_before_mb": round(rss_now),
           "peak_before_mb": round(before), "peak_mb": round(peak), "added_mb": round(peak - max(before, rss_now)),
           "vectors": d.vectors, "representatives": d.representatives, "max_batch": d.max_batch,
           "found": d.estimated}
    print(json.dumps(row), flush=True)
    return row


def _hwm_mb() -> float:
    with open("/proc/self/status") as f:
        return next(int(x.split()[1]) / 1024 for x in f if x.startswith("VmHWM"))


def pipeline(seconds: float, speakers: bool, model: str = "tiny.en") -> dict:
    """Run in its own process: the whole worker pipeline (`model`, int8, word timing) on `seconds` of real speech
    as a 16 kHz WAV, with or without speakers. The stage timings of one run give the ratio of diarization to
    transcription; the peak RSS of the two processes gives what speakers add over transcription."""
    import tempfile
    import wave

    from worker.pipeline import transcribe
    from worker.result import Options

    wav = long_speech(seconds)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "long.wav"
        with wave.open(str(path), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(SR)
            for a in range(0, len(wav), SR * 60):
                w.writeframes((np.clip(wav[a:a + SR * 60], -1, 1) * 32767).astype("<i2").tobytes())
        del wav
        t = time.perf_counter()
        result = transcribe(path, Options(model=model, language="en", diarize=speakers), device="cpu")
        wall = time.perf_counter() - t
    tm = result.timings
    asr = tm.get("transcribe", 0) + tm.get("align", 0)
    row = {"seconds": seconds, "model": model, "speakers": speakers, "wall_s": round(wall, 1), "timings": tm,
           "asr_s": round(asr, 1), "diarize_s": tm.get("diarize"),
           "diarize_share_of_asr": round(tm["diarize"] / asr, 3) if speakers and asr else None,
           "found": len({s.speaker for s in result.segments if s.speaker}) if speakers else None,
           "peak_mb": round(_hwm_mb())}
    print(json.dumps(row), flush=True)
    return row


if __name__ == "__main__":
    mode = sys.argv[1] if len(sys.argv) > 1 else "quality"
    if mode == "quality":
        quality()
    elif mode == "length":
        if "--one" in sys.argv:
            length(float(sys.argv[2]))
        else:  # one process per length, so each peak is its own
            for s in sys.argv[2:] or ["600"]:
                subprocess.run([sys.executable, __file__, "length", s, "--one"], check=True)
    elif mode == "pipeline":
        model = next((a.split("=", 1)[1] for a in sys.argv if a.startswith("--model=")), "tiny.en")
        if "--one" in sys.argv:
            pipeline(float(sys.argv[2]), "--speakers" in sys.argv, model)
        else:  # a process per run, so each peak RSS is its own
            for s in [a for a in sys.argv[2:] if not a.startswith("--")] or ["3600"]:
                for flag in ([], ["--speakers"]):
                    subprocess.run([sys.executable, __file__, "pipeline", s, "--one", f"--model={model}", *flag],
                                   check=True)
    else:
        raise SystemExit(__doc__)
