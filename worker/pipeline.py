"""The speech pipeline as a pure function: media path + Options -> TranscriptResult. No DB, queue or web.

Stages (reported as progress(stage, fraction)): decode -> transcribe -> align -> diarize.
Transcription runs faster-whisper's BatchedInferencePipeline (its bundled Silero VAD, batch 4,
word_timestamps=True) -- the batched pipeline WhisperX contributed to faster-whisper -- on a faster-whisper model.
We load that model directly rather than through `whisperx.load_model`, whose pyannote VAD this path never uses:
measured on 2 cores (base, int8, fresh process), 0.45 s and 340 MB instead of 5.6-6.0 s and 1,376 MB.
Measured on 2 CPU cores, 50 s espeak clip,
int8, warm: tiny.en 2.2 s vs 3.2 s for WhisperX's batched transcribe (pyannote VAD, no words) and 3.0 s for
pyannote-VAD clips fed to the batched pipeline; base 2.9-3.1 s vs 4.8-5.0 s and 4.6-5.2 s. It is the fastest and
times every word in the same pass, and language/task/prompt are per call, so one loaded model serves all options.
torch, faster-whisper and whisperx are imported lazily so importing this module stays cheap.
"""
from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterable

from worker import audio as media
from webapp import model_registry as models
from worker import words
from worker.result import Options, Segment, TranscriptResult, Word

Progress = Callable[[str, float], None]
_MODELS: dict[tuple[str, str, str], Any] = {}
_LOAD_LOCK = threading.Lock()
_SENTENCE_END = (".", "?", "!", "。", "？", "！")
_MAX_SEGMENT_S = 20.0
_PAUSE_S = 1.0


def pick_device(device: str = "auto", compute_type: str = "int8") -> tuple[str, str]:
    """Resolve "auto": cuda when torch sees a GPU, else cpu; compute "auto" -> float16 on cuda, int8 on cpu."""
    if device == "auto":
        import ctranslate2  # answers without importing torch (~2 s)

        device = "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"
    if compute_type == "auto":
        compute_type = "float16" if device == "cuda" else "int8"
    return device, compute_type


def load_model(name: str | None, device: str = "auto", compute_type: str = "int8") -> Any:
    """Load (once per process) the faster-whisper model for a name or folder; raises ModelNotAvailable."""
    path = str(models.resolve(name))
    device, compute_type = pick_device(device, compute_type)
    key = (path, device, compute_type)
    with _LOAD_LOCK:
        if key not in _MODELS:
            models.offline()
            from faster_whisper import WhisperModel

            _MODELS[key] = WhisperModel(path, device=device, compute_type=compute_type, local_files_only=True,
                                        cpu_threads=os.cpu_count() or 4)
        return _MODELS[key]


def warm(names: Iterable[str], device: str = "auto", compute_type: str = "int8") -> None:
    """Preload models in a worker before it takes jobs."""
    for name in names:
        load_model(name, device, compute_type)


def _segments(fw_segments: Iterable[Any], duration: float, report: Callable[[float], None]) -> list[Segment]:
    """Cut faster-whisper's (up to 30 s) chunks into sentences, at long pauses, and at 20 s."""
    out: list[Segment] = []
    for seg in fw_segments:
        report(min(seg.end / duration, 1.0) if duration else 1.0)
        raw = list(seg.words or [])
        start = 0
        for i, w in enumerate(raw):
            last = i == len(raw) - 1
            gap = not last and raw[i + 1].start - w.end >= _PAUSE_S
            long = w.end - raw[start].start >= _MAX_SEGMENT_S
            if last or gap or long or w.word.strip().endswith(_SENTENCE_END):
                chunk = raw[start:i + 1]
                out.append(Segment(
                    start=float(chunk[0].start), end=float(chunk[-1].end),
                    text="".join(x.word for x in chunk).strip(),
                    words=[Word(x.word.strip(), float(x.start), float(x.end), float(x.probability)) for x in chunk],
                ))
                start = i + 1
        if not raw and seg.text.strip():  # no word timings (should not happen with word_timestamps=True)
            out.append(Segment(start=float(seg.start), end=float(seg.end), text=seg.text.strip()))
    return out


_NUMERALS: dict[int, list[int]] = {}


def numeral_tokens(model: Any) -> list[int]:
    """Token ids that would write a digit or %, $, £ (as WhisperX's suppress_numerals finds them), per model."""
    key = id(model)
    if key not in _NUMERALS:
        from faster_whisper.tokenizer import Tokenizer

        tok = Tokenizer(model.hf_tokenizer, model.model.is_multilingual)
        _NUMERALS[key] = [i for i in range(tok.eot)
                          if any(c in "0123456789%$£" for c in tok.decode([i]).removeprefix(" "))]
    return _NUMERALS[key]


def _run_asr(model: Any, samples: Any, options: Options, report: Callable[[float], None]) -> tuple:
    """One batched pass: text, words and (if not given) the language. Returns (segments, language, prob)."""
    from faster_whisper import BatchedInferencePipeline

    multilingual = model.model.is_multilingual
    language = options.language if multilingual else "en"
    task = options.task if multilingual and options.task in ("transcribe", "translate") else "transcribe"
    extra = {"suppress_tokens": [-1, *numeral_tokens(model)]} if options.suppress_numerals else {}
    fw_segments, info = BatchedInferencePipeline(model=model).transcribe(
        samples, language=language, task=task, batch_size=max(1, options.batch_size), word_timestamps=True,
        initial_prompt=options.initial_prompt or None, hotwords=options.hotwords or None, **extra,
    )
    segments = _segments(fw_segments, len(samples) / media.SAMPLE_RATE, report)
    probability = float(info.language_probability) if language is None else None
    return segments, info.language or language or "en", probability


def transcribe(
    path: str | os.PathLike,
    options: Options,
    progress: Progress | None = None,
    *,
    device: str = "auto",
    compute_type: str = "int8",
    default_model: str = models.DEFAULT_MODEL,
    max_duration_s: float | None = None,
    diarization_model: str | os.PathLike | None = None,
) -> TranscriptResult:
    """Transcribe one file. Raises MediaError (bad file, message for users) or ModelNotAvailable.

    diarization_model: a local pyannote pipeline folder to diarize with (else the offline diarizer)."""
    report: Progress = progress or (lambda stage, fraction: None)
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def done(stage: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[stage] = round(now - clock, 3)
        clock = now
        report(stage, 1.0)

    report("decode", 0.0)
    samples = media.load_audio(path, max_duration_s=max_duration_s)
    duration = len(samples) / media.SAMPLE_RATE
    done("decode")

    name = options.model or default_model
    if options.diarize and (options.num_speakers or 2) == 2 and media.voice_per_channel(path):
        del samples  # one voice per channel: each channel is transcribed on its own and is its own speaker
        return _transcribe_channels(path, options, report, device, compute_type, name, duration, timings,
                                    max_duration_s)
    report("transcribe", 0.0)
    device, compute_type = pick_device(device, compute_type)
    model = load_model(name, device, compute_type)
    timings["load"] = round(time.perf_counter() - clock, 3)
    clock = time.perf_counter()
    segments, language, probability = _run_asr(model, samples, options, lambda f: report("transcribe", f))
    done("transcribe")

    report("align", 0.0)
    segments, timing = words.align(segments, samples, language, device)
    segments = words.repair(segments, duration)
    done("align")

    result = TranscriptResult(
        language=language, duration=round(duration, 3), segments=segments, model=name,
        language_probability=probability, word_timing=timing if segments else "none", timings=timings,
    )
    if options.diarize:
        from worker.diarize import diarize

        report("diarize", 0.0)
        diarize(result, samples, options, device=device, progress=lambda f: report("diarize", f),
                model_path=diarization_model)
        done("diarize")
    return result


def _transcribe_channels(path: str | os.PathLike, options: Options, report: Progress, device: str,
                         compute_type: str, name: str, duration: float, timings: dict[str, float],
                         max_duration_s: float | None) -> TranscriptResult:
    """Stereo with one voice per channel: transcribe and align each channel, SPEAKER_00 = left, SPEAKER_01 =
    right, segments merged in time order."""
    device, compute_type = pick_device(device, compute_type)
    model = load_model(name, device, compute_type)
    clock = time.perf_counter()
    merged: list[Segment] = []
    languages: list[tuple[str, float | None]] = []
    for ch in (0, 1):
        samples = media.load_audio(path, max_duration_s=max_duration_s, channel=ch)
        report("transcribe", ch / 2)
        segments, language, probability = _run_asr(model, samples, options,
                                                    lambda f, ch=ch: report("transcribe", (ch + f) / 2))
        segments, timing = words.align(segments, samples, language, device)
        segments = words.repair(segments, duration)
        speaker = f"SPEAKER_{ch:02d}"
        for seg in segments:
            seg.speaker = speaker
            for w in seg.words:
                w.speaker = speaker
        merged += segments
        languages.append((language, probability))
        del samples
    merged.sort(key=lambda seg: (seg.start, seg.end))
    timings["transcribe"] = round(time.perf_counter() - clock, 3)
    report("transcribe", 1.0)
    speakers = [f"SPEAKER_{ch:02d}" for ch in (0, 1) if any(seg.speaker == f"SPEAKER_{ch:02d}" for seg in merged)]
    return TranscriptResult(
        language=languages[0][0], duration=round(duration, 3), segments=merged, model=name,
        language_probability=languages[0][1], word_timing=timing if merged else "none", timings=timings,
        diarization="stereo-channels", speakers=speakers, speaker_count=len(speakers),
        speaker_count_given=bool(options.num_speakers),
    )


def transcribe_files(
    paths: Iterable[str | os.PathLike], options: Options, progress: Progress | None = None, **kwargs: Any
) -> Iterable[tuple[Path, TranscriptResult | Exception]]:
    """Yield (path, result or the MediaError) per file; the model loads once for all of them."""
    from worker.errors import MediaError

    for path in paths:
        try:
            yield Path(path), transcribe(path, options, progress, **kwargs)
        except MediaError as exc:
            yield Path(path), exc
