"""Voice recognition: enrol people from one recording, recognise them in another; and look-back speed.

    PYTHONPATH=. .venv/bin/python bench/voices.py

Real speech: pyannote's 30 s two-speaker sample (its reference RTTM gives who spoke when). Each speaker's
reference turns are cut into halves at SPLIT_S; one half enrols, the other is recognised, both ways round, and also
at two more split points, so every threshold is judged on several enrol/recognise pairs. Never-enrolled voices:
espeak-ng voices (synthetic), which must stay unnamed. Prints the similarity of every pair and the share of talk
time named correctly / wrongly / left unnamed per threshold, then the time of ``recognise`` over 1,000 stored
transcripts (synthetic unit vectors, 3 speakers each, against 20 people of 2 voiceprints).
"""
from __future__ import annotations

import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from worker import voiceprints
from worker.recognise import Thresholds, recognise

SAMPLE = Path(__import__("pyannote.audio").audio.__file__).parent / "sample"
SR = 16000


def load_wav(path: Path) -> np.ndarray:
    from worker.audio import load_audio

    return load_audio(path)


def turns() -> list[tuple[float, float, str]]:
    rows = []
    for line in (SAMPLE / "sample.rttm").read_text().splitlines():
        f = line.split()
        rows.append((float(f[3]), float(f[3]) + float(f[4]), f[7]))
    return rows


def clean_turns() -> list[tuple[float, float, str]]:
    """Reference turns with overlapped speech cut out (overlap would mix two voices into one print)."""
    rows = turns()
    out = []
    for a, b, who in rows:
        pieces = [(a, b)]
        for c, d, other in rows:
            if other == who:
                continue
            pieces = [p for (x, y) in pieces for p in ((x, min(y, c)), (max(x, d), y)) if p[1] - p[0] > 0.05]
        out += [(x, y, who) for x, y in pieces]
    return out


def cut(wav: np.ndarray, spans) -> np.ndarray:
    return np.concatenate([wav[int(a * SR):int(b * SR)] for a, b in spans]) if spans else np.zeros(0, np.float32)


def halves(wav, split: float, first: bool):
    """{speaker: (embedding, talk seconds)} for the speech before (first) or after the split."""
    by: dict[str, list] = {}
    for a, b, who in clean_turns():
        a, b = (a, min(b, split)) if first else (max(a, split), b)
        if b - a > 0.05:
            by.setdefault(who, []).append((a, b))
    return {who: (voiceprints.embed(cut(wav, spans)), sum(b - a for a, b in spans)) for who, spans in by.items()}


def espeak(voice: str, text: str) -> np.ndarray:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "v.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-w", str(out), text], check=True)
        return load_wav(out)


def main() -> None:
    wav = load_wav(SAMPLE / "sample.wav")
    text = ("The quarterly numbers are in and they look better than we feared. Sales grew in the north, the new "
            "office opened on time, and the team would like to hire two more people before the summer.")
    strangers = {v: voiceprints.embed(espeak(v, text)) for v in ("en-us", "en+f3", "en+m3", "en-gb+f2")}
    trials = []  # (enrol half, recognise half)
    for split in (12.5, 15.0, 17.5):
        a, b = halves(wav, split, True), halves(wav, split, False)
        trials += [(f"split {split}: first->second", a, b), (f"split {split}: second->first", b, a)]
    same, diff, strange = [], [], []
    for name, enrol, probe in trials:
        for who, (e, _) in enrol.items():
            for other, (p, _) in probe.items():
                if e is None or p is None:
                    continue
                (same if who == other else diff).append(float(np.dot(e, p)))
            for s in strangers.values():
                strange.append(float(np.dot(e, s)))
    print(f"same voice, other half  : n={len(same)} min={min(same):.3f} mean={np.mean(same):.3f}")
    print(f"other real voice        : n={len(diff)} max={max(diff):.3f} mean={np.mean(diff):.3f}")
    print(f"never-enrolled (espeak) : n={len(strange)} max={max(strange):.3f} mean={np.mean(strange):.3f}")
    print()
    print("| recognise at | suggest at | named correctly | named wrongly | suggested | unnamed |")
    print("| --- | --- | --- | --- | --- | --- |")
    for rec in (0.70, 0.75, 0.80, 0.85, 0.90):
        th = Thresholds(recognise=rec, suggest=rec - 0.1)
        right = wrong = sugg = none = 0.0
        for name, enrol, probe in trials:
            ids = {who: i for i, who in enumerate(sorted(enrol))}
            people = {ids[w]: [e] for w, (e, secs) in enrol.items() if e is not None and secs >= 1.0}
            spk = {w: p for w, (p, _) in probe.items() if p is not None}
            spk.update({f"stranger-{v}": e for v, e in strangers.items()})
            secs = {w: s for w, (_, s) in probe.items()}
            got = recognise(spk, people, th)
            for w, s in secs.items():
                m = got.get(w)
                if m is None:
                    none += s
                elif m.match == "suggested":
                    sugg += s
                elif m.person_id == ids.get(w):
                    right += s
                else:
                    wrong += s
            for v in strangers:  # a stranger named at all is named wrongly (counted per occurrence, 1 s each)
                m = got.get(f"stranger-{v}")
                if m is not None and m.match == "recognised":
                    wrong += 1.0
        total = right + wrong + sugg + none
        print(f"| {rec:.2f} | {rec - 0.1:.2f} | {right / total:.0%} | {wrong / total:.0%} | {sugg / total:.0%} "
              f"| {none / total:.0%} |")
    print()
    rng = np.random.default_rng(0)
    unit = lambda n: (lambda m: m / np.linalg.norm(m, axis=1, keepdims=True))(rng.random((n, 256)))
    people = {i: list(unit(2)) for i in range(20)}
    stored = [dict(zip(("A", "B", "C"), unit(3))) for _ in range(1000)]
    t0 = time.perf_counter()
    for spk in stored:
        recognise(spk, people, Thresholds())
    print(f"look-back matching over 1,000 transcripts x 3 speakers vs 20 people x 2 voiceprints: "
          f"{time.perf_counter() - t0:.3f} s (pure matching, no database)")


if __name__ == "__main__":
    main()
