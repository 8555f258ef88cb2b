"""Plain data that crosses the pipeline's boundary: options in, result out. No torch here."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any


@dataclass
class Options:
    model: str | None = None  # None: the configured default (WHISPER_MODEL)
    language: str | None = None  # None: detect
    task: str = "transcribe"  # or "translate" (to English)
    diarize: bool = False
    num_speakers: int | None = None
    min_speakers: int | None = None
    max_speakers: int | None = None
    batch_size: int = 4
    initial_prompt: str | None = None
    hotwords: str | None = None
    suppress_numerals: bool = False  # write numbers as words ("twenty five"), which align and subtitle better

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> "Options":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in (data or {}).items() if k in names})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Word:
    word: str
    start: float
    end: float
    score: float
    speaker: str | None = None


@dataclass
class Segment:
    start: float
    end: float
    text: str
    speaker: str | None = None
    words: list[Word] = field(default_factory=list)
    language: str | None = None  # the language this stretch was transcribed in (ISO 639-1, Whisper's codes)
    language_probability: float | None = None  # how sure detection was; None when the language was given


@dataclass
class TranscriptResult:
    language: str
    duration: float
    segments: list[Segment]
    model: str
    language_probability: float | None = None
    word_timing: str = "none"  # "align" (wav2vec2) | "whisper" (faster-whisper's own) | "none"
    diarization: str | None = None  # "pyannote" | "ge2e-nmesc" (offline) | "stereo-channels" | None
    speaker_count: int | None = None  # speakers found by diarization
    speaker_count_given: bool | None = None  # True when the count was the user's num_speakers
    speakers: list[str] = field(default_factory=list)
    speaker_embeddings: dict[str, list[float]] = field(default_factory=dict)  # label -> unit GE2E voiceprint
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
