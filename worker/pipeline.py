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

import logging
import os
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable, Iterable, TypeVar

from worker import audio as media
from webapp import model_registry as models
from worker import words
from worker.result import Options, Segment, TranscriptResult, Word

log = logging.getLogger("scriptorium.worker")
Progress = Callable[[str, float], None]
T = TypeVar("T")
# (canonical model name or real path, device, compute type, CPU threads) -> model, least recently used first. Bounded: every
# model is ~100 MB (tiny) to several GB (large), and each one a job asks for would otherwise stay for good.
_MODELS: OrderedDict[tuple[str, str, str, int], Any] = OrderedDict()
MAX_MODELS = 2  # the worker sets WORKER_MAX_MODELS through set_max_models
_LOAD_LOCK = threading.Lock()
STAGE_POLL_S = 0.2  # how often a stage running in its helper thread reports (and so can be cancelled)
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


def set_max_models(n: int) -> None:
    """How many models this process keeps loaded at most (least recently used go first)."""
    global MAX_MODELS
    MAX_MODELS = max(1, int(n))


def load_model(name: str | None, device: str = "auto", compute_type: str = "int8", cpu_threads: int = 0,
               allowed_paths: Iterable[str | os.PathLike] | None = None) -> Any:
    """The faster-whisper model for an allowed name or folder, loaded once and kept among the MAX_MODELS most
    recently used; raises ModelNotAvailable. ``allowed_paths`` None trusts any model folder (the command line);
    the worker passes the admin's list, so a job cannot name an arbitrary path. ``cpu_threads`` 0: one per core."""
    device, compute_type = pick_device(device, compute_type)
    canonical = models.normalise(models.pick(name, device), allowed_paths)  # "auto": the best one installed
    cpu_threads = cpu_threads or os.cpu_count() or 4
    key = (canonical, device, compute_type, cpu_threads)
    with _LOAD_LOCK:
        if key in _MODELS:
            _MODELS.move_to_end(key)
            return _MODELS[key]
        path = str(models.resolve(canonical))
        while len(_MODELS) >= MAX_MODELS:  # make room before loading, so two big models never overlap
            old_key, old = _MODELS.popitem(last=False)
            _NUMERALS.pop(id(old), None)
            log.info("unloaded model %s to make room for %s", old_key[0], canonical)
        models.offline()
        from faster_whisper import WhisperModel

        _MODELS[key] = WhisperModel(path, device=device, compute_type=compute_type, local_files_only=True,
                                    cpu_threads=cpu_threads)
        return _MODELS[key]


def loaded_models() -> list[str]:
    """The models this process holds, least recently used first."""
    return [key[0] for key in _MODELS]


def warm(names: Iterable[str], device: str = "auto", compute_type: str = "int8",
         allowed_paths: Iterable[str | os.PathLike] | None = None) -> None:
    """Preload models in a worker before it takes jobs."""
    for name in names:
        load_model(name, device, compute_type, allowed_paths=allowed_paths)


class _Abandoned(Exception):
    """Raised inside a stage's helper thread once its caller has given up on it (a cancel)."""


def _stoppable(stage: str, report: Progress, work: Callable[[Callable[[float], None]], T]) -> T:
    """Run ``work(tick)`` in a helper thread while this thread calls ``report(stage, fraction)`` every
    STAGE_POLL_S with the latest fraction ``work`` ticked.

    CTranslate2 and torch calls cannot be interrupted and may run for many seconds between two progress points,
    so a report that raises (a cancel, RQ's job timeout) ends the stage here at once. The abandoned call stops at
    its next tick (or runs to its end in the background) and its result is dropped.
    """
    latest = [0.0]
    abandoned = threading.Event()
    box: dict[str, Any] = {}

    def tick(fraction: float) -> None:
        if abandoned.is_set():
            raise _Abandoned()
        latest[0] = fraction

    def target() -> None:
        try:
            box["result"] = work(tick)
        except BaseException as exc:  # handed to the caller below
            box["error"] = exc

    thread = threading.Thread(target=target, name=f"stage-{stage}", daemon=True)
    thread.start()
    try:
        while thread.is_alive():
            thread.join(STAGE_POLL_S)
            report(stage, latest[0])
    except BaseException:
        abandoned.set()
        raise
    if "error" in box:
        raise box["error"]
    return box["result"]


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
    cpu_threads: int = 0,
    model_paths: Iterable[str | os.PathLike] | None = None,
) -> TranscriptResult:
    """Transcribe one file. Raises MediaError (bad file, message for users) or ModelNotAvailable.

    ``model_paths``: the model folders an admin allowed (plus ``default_model``); None trusts any folder.
    Every stage calls ``progress`` several times a second, so a callback that raises stops the run promptly."""
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
    samples = media.load_audio(path, max_duration_s=max_duration_s, progress=lambda f: report("decode", f))
    duration = len(samples) / media.SAMPLE_RATE
    done("decode")

    allowed = None if model_paths is None else (*model_paths, default_model)
    report("transcribe", 0.0)
    device, compute_type = pick_device(device, compute_type)
    # "auto" -> the concrete model for this hardware, which the result names; then its one allowed spelling
    name = models.normalise(models.pick(options.model or default_model, device), allowed)

    def asr(tick: Callable[[float], None]) -> tuple:
        nonlocal clock
        model = load_model(name, device, compute_type, cpu_threads, allowed)
        now = time.perf_counter()
        timings["load"] = round(now - clock, 3)
        clock = now
        return _run_asr(model, samples, options, tick)

    segments, language, probability = _stoppable("transcribe", report, asr)
    done("transcribe")

    report("align", 0.0)
    segments, timing = _stoppable("align", report, lambda tick: words.align(segments, samples, language, device))
    segments = words.repair(segments, duration)
    done("align")

    result = TranscriptResult(
        language=language, duration=round(duration, 3), segments=segments, model=name,
        language_probability=probability, word_timing=timing if segments else "none", timings=timings,
    )
    if options.diarize:
        from worker.diarize import diarize

        report("diarize", 0.0)
        _stoppable("diarize", report, lambda tick: diarize(result, samples, options, device=device, progress=tick))
        if result.speakers:
            from worker.voiceprints import speaker_embeddings

            try:  # voiceprints for voice profiles: a failure costs recognition, not the transcript
                result.speaker_embeddings = _stoppable("diarize", report,
                                                       lambda tick: speaker_embeddings(samples, result))
            except (ImportError, ValueError, RuntimeError) as exc:
                log.warning("no speaker embeddings: %s", exc)
        done("diarize")
    return result


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
