"""Speech clips of a given length for benchmarks, synthesised with espeak-ng (+ sox) and cached in bench/results."""
from __future__ import annotations

import subprocess
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
SENTENCES = [
    "The committee met on Tuesday to review the annual budget and the plans for the new office.",
    "Several members asked whether the hiring plan could be finished before the summer break.",
    "Our correspondent spoke to residents who have lived beside the river for more than forty years.",
    "The results of the survey were published this morning and they surprised almost everyone.",
    "After a short pause the speaker returned to the question of funding for local schools.",
    "Engineers say the bridge will stay closed until the inspection is complete next month.",
    "In the second half of the interview she described how the project started in a small garage.",
    "Questions from the audience focused on transport, housing and the cost of energy.",
]


def clip(seconds: int, seed: int = 0, voice: str = "en-us") -> Path:
    """A WAV of at least ``seconds`` of speech (cut to exactly that length)."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"clip-{seconds}s-{seed}-{voice.replace('+', '_')}.wav"
    if out.exists():
        return out
    parts: list[Path] = []
    total, i = 0.0, seed
    while total < seconds:
        part = RESULTS / f".part-{seed}-{i}.wav"
        text = SENTENCES[i % len(SENTENCES)]
        subprocess.run(["espeak-ng", "-v", voice, "-s", "155", "-w", str(part), text], check=True)
        total += float(subprocess.run(["soxi", "-D", str(part)], capture_output=True, text=True).stdout)
        parts.append(part)
        i += 1
    subprocess.run(["sox", *map(str, parts), str(out), "trim", "0", str(seconds)], check=True)
    for p in parts:
        p.unlink()
    return out
