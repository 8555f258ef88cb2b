"""Speech with known words, synthesised once per session with espeak-ng (+ sox), and helpers to score it."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("PYANNOTE_METRICS_ENABLED", "false")

TEST_MODEL = "tiny.en"
SPEECH_TEXT = (
    "The committee will meet on Tuesday to discuss the budget for next year. "
    "Please remember to bring your notebook and a pencil to the meeting. "
    "Children were playing football in the park after school."
)
DIALOGUE = [  # (voice, sentence); two voices that Resemblyzer can tell apart (en-us vs en-gb+m7 it cannot)
    ("en-us", "The library opens early on weekdays and closes late on Fridays."),
    ("en+f3", "I would like to borrow three books about ancient history please."),
    ("en-us", "Certainly, you will need a library card and some identification."),
    ("en+f3", "Here is my card, and this is my passport from last year."),
    ("en-us", "Thank you, the books must be returned within two weeks."),
    ("en+f3", "That sounds fine, I will bring them back before the deadline."),
]
GAP_S = 0.6


def _words(text: str) -> list[str]:
    return re.sub(r"[^a-z0-9' ]+", " ", text.lower()).split()


def wer(reference: str, hypothesis: str) -> float:
    """Word error rate: word-level Levenshtein distance over the reference length (case and punctuation ignored)."""
    ref, hyp = _words(reference), _words(hypothesis)
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[len(hyp)] / max(1, len(ref))


def _run(*cmd: str | Path) -> None:
    subprocess.run([str(c) for c in cmd], check=True, capture_output=True)


def _duration(path: Path) -> float:
    return float(subprocess.run(["soxi", "-D", str(path)], check=True, capture_output=True, text=True).stdout)


@dataclass
class Clips:
    speech: Path  # SPEECH_TEXT, en-us, 16 kHz wav
    speech_mp4: Path  # the same speech in an H.264/AAC mp4 with a colour video track
    video_only: Path  # mp4 without any audio stream
    empty: Path
    random_wav: Path  # random bytes named .wav
    dialogue: Path  # DIALOGUE, alternating voices
    dialogue_times: list[tuple[float, float]]  # (start, end) of each DIALOGUE sentence
    speech_text: str = SPEECH_TEXT
    dialogue_lines: tuple = tuple(DIALOGUE)


@pytest.fixture(scope="session", name="wer")
def wer_fixture():
    """The word error rate function, as a fixture (conftest modules are not for importing)."""
    return wer


@pytest.fixture(scope="session")
def ffmpeg() -> str:
    from worker.audio import ffmpeg_exe

    return ffmpeg_exe()


@pytest.fixture(scope="session")
def clips(tmp_path_factory: pytest.TempPathFactory, ffmpeg: str) -> Clips:
    """Every test clip, made once per session."""
    if not (shutil.which("espeak-ng") and shutil.which("sox")):
        pytest.skip("espeak-ng and sox are needed to synthesise test speech (make system-deps)")
    d = tmp_path_factory.mktemp("clips")
    raw = d / "speech-raw.wav"
    _run("espeak-ng", "-v", "en-us", "-w", raw, SPEECH_TEXT)
    _run("sox", raw, "-r", "16000", "-c", "1", d / "speech.wav")
    seconds = _duration(d / "speech.wav")
    _run(ffmpeg, "-v", "error", "-f", "lavfi", "-i", f"color=c=navy:s=64x64:r=10:d={seconds:.2f}",
         "-i", d / "speech.wav", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", d / "speech.mp4")
    _run(ffmpeg, "-v", "error", "-f", "lavfi", "-i", "color=c=red:s=64x64:r=10:d=2",
         "-c:v", "libx264", "-pix_fmt", "yuv420p", d / "video-only.mp4")
    (d / "empty.wav").write_bytes(b"")
    (d / "random.wav").write_bytes(os.urandom(64_000))

    parts, times, t = [], [], 0.0
    silence = d / "gap.wav"
    _run("sox", "-n", "-r", "16000", "-c", "1", silence, "trim", "0", str(GAP_S))
    for i, (voice, sentence) in enumerate(DIALOGUE):
        src, part = d / f"line{i}-raw.wav", d / f"line{i}.wav"
        _run("espeak-ng", "-v", voice, "-w", src, sentence)
        _run("sox", src, "-r", "16000", "-c", "1", part)
        length = _duration(part)
        times.append((t, t + length))
        parts += [part, silence]
        t += length + GAP_S
    _run("sox", *parts[:-1], d / "dialogue.wav")
    return Clips(d / "speech.wav", d / "speech.mp4", d / "video-only.mp4", d / "empty.wav", d / "random.wav",
                 d / "dialogue.wav", times)


@pytest.fixture(scope="session")
def tiny_result(clips: Clips):
    """SPEECH_TEXT transcribed once with tiny.en, with the progress reports it made."""
    from worker.pipeline import transcribe
    from worker.result import Options

    reports: list[tuple[str, float]] = []
    result = transcribe(clips.speech, Options(model=TEST_MODEL), lambda s, f: reports.append((s, f)))
    return result, reports
