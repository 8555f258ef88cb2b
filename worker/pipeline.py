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


# Language per stretch of speech (issue 14): with no language given, each stretch is detected on its own and
# transcribed in its own language, so a recording that switches language is never translated into the first one.
DETECT_WINDOW_S = 20.0  # detection windows: speech stretches merged up to this long, never across a pause
DETECT_PAUSE_S = 0.5  # a pause this long may be a change of speaker or language: detection windows break there
MIN_DETECT_S = 1.0  # a shorter window is too little to tell a language by: it takes its neighbour's
CLIP_S = 30.0  # Whisper's window: the clips handed to the batched pipeline are at most this long


def _detection_windows(samples: Any) -> list[list[float]]:
    """[start, end] (seconds) of the stretches of speech language is detected on."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    sr = media.SAMPLE_RATE
    spans = get_speech_timestamps(samples, VadOptions(max_speech_duration_s=DETECT_WINDOW_S,
                                                      min_silence_duration_ms=160))
    windows: list[list[float]] = []
    for span in spans:
        start, end = span["start"] / sr, span["end"] / sr
        if windows and start - windows[-1][1] < DETECT_PAUSE_S and end - windows[-1][0] <= DETECT_WINDOW_S:
            windows[-1][1] = end
        else:
            windows.append([start, end])
    return windows


def detect_languages(model: Any, samples: Any, windows: list[list[float]], batch_size: int = 4,
                     tick: Callable[[float], None] = lambda f: None) -> list[tuple[str, float]]:
    """(language, probability) per window: one encoder pass each, in batches."""
    import numpy as np
    from faster_whisper.audio import pad_or_trim

    sr = media.SAMPLE_RATE
    found: list[tuple[str, float]] = []
    for i in range(0, len(windows), batch_size):
        batch = windows[i:i + batch_size]
        feats = np.stack([pad_or_trim(model.feature_extractor(samples[int(a * sr):int(b * sr)])[..., :-1])
                          for a, b in batch])
        for langs in model.model.detect_language(model.encode(feats)):
            token, prob = langs[0]
            found.append((token[2:-2], float(prob)))
        tick(len(found) / len(windows))
    # too short to tell: take the language of the nearest longer neighbour (before, else after)
    sure = [i for i, (a, b) in enumerate(windows) if b - a >= MIN_DETECT_S]
    if sure:
        for i, (a, b) in enumerate(windows):
            if b - a < MIN_DETECT_S:
                j = min(sure, key=lambda k: (abs(k - i), k > i))
                found[i] = found[j]
    return found


def _clips(windows: list[list[float]], langs: list[tuple[str, float]]) -> dict[str, list[dict[str, float]]]:
    """Consecutive windows of one language joined into clips of at most CLIP_S, grouped by language."""
    clips: dict[str, list[dict[str, float]]] = {}
    prev = None
    for (start, end), (lang, _) in zip(windows, langs):
        own = clips.setdefault(lang, [])
        if prev == lang and own and end - own[-1]["start"] <= CLIP_S:
            own[-1]["end"] = end
        else:
            own.append({"start": start, "end": end})
        prev = lang
    return clips


def _batched_on_speech(batched: Any, samples: Any, speech: list[dict], **kwargs: Any) -> tuple:
    """What ``batched.transcribe(samples, **kwargs)`` does with its own VAD, on the speech segments given instead
    (a part of a long recording, with the whole recording's VAD: issue 11): the segments' audio is joined and
    packed into the same chunks (``media.whisper_chunks``, as faster-whisper's collect_chunks), each chunk handed
    over as a clip of the joined audio, and the times mapped back as faster-whisper maps them."""
    import numpy as np
    from faster_whisper.transcribe import restore_speech_timestamps

    sr = media.SAMPLE_RATE
    joined = np.concatenate([samples[s["start"]:s["end"]] for s in speech]) if speech else samples[:0]
    clips, at = [], 0
    for chunk in media.whisper_chunks(speech):
        n = sum(s["end"] - s["start"] for s in chunk)
        clips.append({"start": (at + 0.5) / sr, "end": (at + n + 0.5) / sr})  # int(x * sr) gives back the sample
        at += n
    if not clips:
        return [], None
    fw_segments, info = batched.transcribe(joined, clip_timestamps=clips, vad_filter=False, **kwargs)
    return restore_speech_timestamps(fw_segments, speech, sr), info


def _run_asr(model: Any, samples: Any, options: Options, report: Callable[[float], None],
             speech: list[dict] | None = None) -> tuple:
    """Text, words and languages. Returns (segments, language, probability): with no language given, every
    segment carries the language of its stretch of speech, and the transcript's is the one spoken longest.
    ``speech``: the VAD's speech segments (samples) to decode instead of running the VAD (a part of a long
    recording); used when the language is known (given, or an English-only model)."""
    from faster_whisper import BatchedInferencePipeline

    multilingual = model.model.is_multilingual
    language = options.language if multilingual else "en"
    task = options.task if multilingual and options.task in ("transcribe", "translate") else "transcribe"
    extra = {"suppress_tokens": [-1, *numeral_tokens(model)]} if options.suppress_numerals else {}
    batched = BatchedInferencePipeline(model=model)
    duration = len(samples) / media.SAMPLE_RATE
    common = dict(task=task, batch_size=max(1, options.batch_size), word_timestamps=True,
                  initial_prompt=options.initial_prompt or None, hotwords=options.hotwords or None, **extra)
    windows = _detection_windows(samples) if language is None else []
    if not windows and speech is not None and language is not None:
        fw_segments, info = _batched_on_speech(batched, samples, speech, language=language, **common)
        segments = _segments(fw_segments, duration, report)
        for seg in segments:
            seg.language = language
        return segments, language, None
    if not windows:  # a language given (honoured for the whole file), or no speech found
        fw_segments, info = batched.transcribe(samples, language=language, **common)
        segments = _segments(fw_segments, duration, report)
        language = info.language or language or "en"
        for seg in segments:
            seg.language = language
        probability = float(info.language_probability) if options.language is None and multilingual else None
        return segments, language, probability

    langs = detect_languages(model, samples, windows, max(1, options.batch_size), lambda f: report(0.2 * f))
    clips = _clips(windows, langs)
    speech = sum(c["end"] - c["start"] for cs in clips.values() for c in cs) or 1.0
    segments: list[Segment] = []
    done = 0.0
    for lang, lang_clips in clips.items():
        share = sum(c["end"] - c["start"] for c in lang_clips) / speech
        fw_segments, _ = batched.transcribe(samples, language=lang, clip_timestamps=lang_clips, vad_filter=False,
                                            **common)
        base = done
        part = _segments(fw_segments, duration, lambda f, base=base, share=share: report(0.2 + 0.8 * (base + share * f)))
        spans = [(w, p) for w, (l, p) in zip(windows, langs) if l == lang]
        for seg in part:
            mid = (seg.start + seg.end) / 2
            seg.language = lang
            seg.language_probability = round(min(spans, key=lambda wp: max(wp[0][0] - mid, mid - wp[0][1]))[1], 4)
        segments.extend(part)
        done += share
    segments.sort(key=lambda s: s.start)
    # the transcript's language: the one spoken longest; its confidence: the detections' mean, weighted by time
    by_time: dict[str, float] = {}
    for (a, b), (lang, _) in zip(windows, langs):
        by_time[lang] = by_time.get(lang, 0.0) + (b - a)
    dominant = max(by_time, key=by_time.get)
    weight = sum(b - a for a, b in windows) or 1.0
    probability = sum((b - a) * p for (a, b), (_, p) in zip(windows, langs)) / weight
    return segments, dominant, round(probability, 4)


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
    align_model: str | None = None,
    diarization_model: str | os.PathLike | None = None,
    speech: list[dict] | None = None,
) -> TranscriptResult:
    """Transcribe one file. Raises MediaError (bad file, message for users) or ModelNotAvailable.

    ``model_paths``: the model folders an admin allowed (plus ``default_model``); None trusts any folder.
    ``align_model``: the configured wav2vec2 aligner(s) (Settings.align_model; see worker.words.aligner_name).
    ``diarization_model``: a local pyannote pipeline folder to diarize with (else the offline diarizer).
    ``speech``: speech segments (samples) from the whole recording's VAD, for a part of a long recording.
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
    if options.diarize and (options.num_speakers or 2) == 2 and media.voice_per_channel(path):
        del samples  # one voice per channel: each channel is transcribed on its own and is its own speaker
        return _transcribe_channels(path, options, report, device, compute_type, name, duration, timings,
                                    max_duration_s, cpu_threads=cpu_threads, allowed=allowed,
                                    align_model=align_model)

    def asr(tick: Callable[[float], None]) -> tuple:
        nonlocal clock
        model = load_model(name, device, compute_type, cpu_threads, allowed)
        now = time.perf_counter()
        timings["load"] = round(now - clock, 3)
        clock = now
        return _run_asr(model, samples, options, tick, speech)

    segments, language, probability = _stoppable("transcribe", report, asr)
    done("transcribe")

    report("align", 0.0)
    segments, timing = _stoppable(
        "align", report, lambda tick: words.align(segments, samples, language, device, align_model))
    segments = words.repair(segments, duration)
    done("align")

    result = TranscriptResult(
        language=language, duration=round(duration, 3), segments=segments, model=name,
        language_probability=probability, word_timing=timing if segments else "none", timings=timings,
    )
    if options.diarize:
        from worker.diarize import diarize

        report("diarize", 0.0)
        _stoppable("diarize", report, lambda tick: diarize(result, samples, options, device=device, progress=tick,
                                                            model_path=diarization_model))
        if result.speakers:
            from worker.voiceprints import speaker_embeddings

            try:  # voiceprints for voice profiles: a failure costs recognition, not the transcript
                result.speaker_embeddings = _stoppable("diarize", report,
                                                       lambda tick: speaker_embeddings(samples, result))
            except (ImportError, ValueError, RuntimeError) as exc:
                log.warning("no speaker embeddings: %s", exc)
        done("diarize")
    return result


def _transcribe_channels(path: str | os.PathLike, options: Options, report: Progress, device: str,
                         compute_type: str, name: str, duration: float, timings: dict[str, float],
                         max_duration_s: float | None, *, cpu_threads: int = 0,
                         allowed: Iterable[str | os.PathLike] | None = None,
                         align_model: str | None = None) -> TranscriptResult:
    """Stereo with one voice per channel: transcribe and align each channel, SPEAKER_00 = left, SPEAKER_01 =
    right, segments merged in time order."""
    model = load_model(name, device, compute_type, cpu_threads, allowed)
    clock = time.perf_counter()
    merged: list[Segment] = []
    languages: list[tuple[str, float | None]] = []
    for ch in (0, 1):
        samples = media.load_audio(path, max_duration_s=max_duration_s, channel=ch)
        report("transcribe", ch / 2)
        segments, language, probability = _run_asr(model, samples, options,
                                                    lambda f, ch=ch: report("transcribe", (ch + f) / 2))
        segments, timing = words.align(segments, samples, language, device, align_model)
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
