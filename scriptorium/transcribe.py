"""``scriptorium transcribe``: the speech pipeline alone on local files, no services; options as in ``whisperx``.

One model load for the whole run. Each input's outputs go beside it (or under ``--output-dir``); one file and one
format with no ``--output-dir`` prints the transcript to stdout instead. Exit status: 0 when every file
succeeded (or was skipped because its outputs exist), 1 when any failed, 2 for a usage error.
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import click

from scriptorium import batch
from scriptorium.progress import Reporter, seconds

# Where each stage sits on a file's 0..100 bar (transcription dominates; diarization is slow on CPU).
SPANS = {"decode": (0, 5), "transcribe": (5, 90), "align": (90, 100)}
SPANS_DIARIZE = {"decode": (0, 5), "transcribe": (5, 70), "align": (70, 75), "diarize": (75, 100)}
COMPUTE_TYPES = ("auto", "default", "int8", "int8_float16", "int8_float32", "int8_bfloat16", "int16", "float16",
                 "bfloat16", "float32")
MODEL_HINT = ("see `scriptorium models list`; `scriptorium models install` sets up the bundled ones, or pass a "
              "model folder with --model PATH")


def render(fmt: str, result, title: str, max_line_width: int | None, max_line_count: int | None) -> str:
    """One output, with the server's conventions: speakers named when there are several."""
    from webapp import exports

    segments = result.to_dict()["segments"]
    several = len({s["speaker"] for s in segments if s["speaker"]}) > 1
    opts: dict = {}
    if fmt in batch.SUBTITLES:
        if max_line_width:
            opts["max_chars"] = max_line_width
        if max_line_count:
            opts["max_lines"] = max_line_count
        if fmt == "srt" and several:
            opts["speaker_prefix"] = "name"
        if fmt == "vtt":
            opts["voice_tags"] = several
    elif fmt == "txt":
        opts["with_speakers"] = several
    return exports.export(fmt, segments, title=title, language=result.language, duration=result.duration, **opts)


class FileProgress:
    """The pipeline's progress(stage, fraction) -> the file's overall percent on the reporter."""

    def __init__(self, reporter: Reporter, file: str, spans: dict, duration: float | None):
        self.reporter, self.file, self.spans, self.duration = reporter, file, spans, duration
        self.percent = 0.0

    def __call__(self, stage: str, fraction: float) -> None:
        lo, hi = self.spans.get(stage, (self.percent, self.percent))
        self.percent = max(self.percent, lo + (hi - lo) * min(max(fraction, 0.0), 1.0))
        audio = ""
        if stage == "transcribe" and self.duration:
            audio = f"{seconds(fraction * self.duration)} / {seconds(self.duration)} audio"
        self.reporter.update(self.file, stage, self.percent, fraction, audio=audio)


@click.command()
@click.argument("files", nargs=-1, required=True)
@batch.speech_options("Model name or folder (default: WHISPER_MODEL, else base).", model_envvar="WHISPER_MODEL")
@click.option("--batch-size", type=click.IntRange(1, 256), default=4, show_default=True,
              help="Audio chunks decoded at once (more is faster on a GPU, uses more memory).")
@click.option("--device", envvar="WHISPER_DEVICE", type=click.Choice(["auto", "cpu", "cuda"]), default="auto",
              show_default=True, help="auto: cuda when a GPU is visible (default: WHISPER_DEVICE).")
@click.option("--compute-type", envvar="WHISPER_COMPUTE_TYPE", type=click.Choice(COMPUTE_TYPES), default="int8",
              show_default=True, help="auto/default: float16 on a GPU, int8 on a CPU (default: WHISPER_COMPUTE_TYPE).")
@click.option("--threads", type=click.IntRange(0, 1024), default=0, show_default=True,
              help="CPU threads for the model (and torch); 0: one per core.")
@click.option("--max-line-width", type=click.IntRange(10, 200), default=None,
              help="Subtitles: characters per line (default 42).")
@click.option("--max-line-count", type=click.IntRange(1, 10), default=None,
              help="Subtitles: lines per cue (default 2).")
def transcribe(files, model, language, task, diarize, num_speakers, min_speakers, max_speakers, initial_prompt,
               hotwords, suppress_numerals, formats, output_dir, overwrite, recursive, progress_mode, quiet,
               batch_size, device, compute_type, threads, max_line_width, max_line_count) -> None:
    """Transcribe FILES (files, directories, globs) with the speech pipeline alone, no services."""
    diarize = batch.check_speakers(diarize, num_speakers, min_speakers, max_speakers)
    if threads:  # read by torch when it is first imported (alignment, speakers), as whisperx's --threads does
        os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = str(threads)
    if compute_type == "default":
        compute_type = "auto"
    items, clashes = batch.plan(files, formats, output_dir, recursive)
    to_stdout = (len(files) == 1 and len(items) == 1 and not clashes and output_dir is None and len(formats) == 1
                 and not Path(files[0]).is_dir())

    from worker.result import Options

    opts = Options(model=model, language=language, task=task, diarize=diarize, num_speakers=num_speakers,
                   min_speakers=min_speakers, max_speakers=max_speakers, batch_size=batch_size,
                   initial_prompt=initial_prompt, hotwords=hotwords, suppress_numerals=suppress_numerals)
    name = model or "auto"  # WHISPER_MODEL, else the best installed for this machine (README "Models")
    with Reporter(progress_mode, quiet) as reporter:
        if not items and not clashes:
            reporter.note(f"no media files in {', '.join(files)}")
        for source, reason in clashes:
            reporter.failed(str(source), reason)
        todo = []
        for item in items:
            missing = dict(item.outputs) if to_stdout else item.missing(overwrite)
            if missing:
                todo.append((item, missing))
            else:
                reporter.skipped(item.name, "its outputs exist (--overwrite to redo)",
                                 outputs=[str(p) for p in item.outputs.values()])
        if todo and not _load(reporter, name, device, compute_type, threads, [i.name for i, _ in todo]):
            reporter.tally(len(items) + len(clashes))
            sys.exit(1)
        spans = SPANS_DIARIZE if diarize else SPANS
        n = 0
        try:
            for n, (item, missing) in enumerate(todo, 1):
                label = f"[{n}/{len(todo)}] {item.source.name}" if len(todo) > 1 else item.source.name
                _one(reporter, item, missing, opts, spans, label, to_stdout, name=name, device=device,
                     compute_type=compute_type, threads=threads, max_line_width=max_line_width,
                     max_line_count=max_line_count)
        except KeyboardInterrupt:
            reporter.note(f"stopped after {n - 1} of {len(todo)} files; run the same command again to do the rest "
                          "(finished files are skipped)")
            sys.exit(130)
        reporter.tally(len(items) + len(clashes))
    if reporter.failures:
        sys.exit(1)


def _load(reporter: Reporter, name: str, device: str, compute_type: str, threads: int, files: list[str]) -> bool:
    """Load the model once before the first file; on failure say what to do and fail every file."""
    from worker import pipeline
    from worker.errors import ModelNotAvailable

    try:
        pipeline.load_model(name, device, compute_type, threads)
        return True
    except ModelNotAvailable as exc:
        reason = f"{exc}; {MODEL_HINT}"
    except Exception as exc:  # ctranslate2: no CUDA, a compute type the device cannot do, damaged weights
        reason = f"cannot load model {name!r} on device {device} with compute type {compute_type}: {exc}"
    reporter.failed_all(files, reason)
    return False


def _one(reporter: Reporter, item: batch.Item, missing: dict[str, Path], opts, spans: dict, label: str,
         to_stdout: bool, *, name: str, device: str, compute_type: str, threads: int,
         max_line_width: int | None, max_line_count: int | None) -> None:
    """Transcribe one file and write its missing outputs; every failure is reported, none stops the run."""
    from webapp.media_probe import probe
    from worker import pipeline
    from worker.errors import MediaError, ModelNotAvailable

    file = item.name
    reporter.begin(file, label)
    started = time.perf_counter()
    try:
        duration = probe(item.source).duration
        result = pipeline.transcribe(item.source, opts, FileProgress(reporter, file, spans, duration),
                                     device=device, compute_type=compute_type, default_model=name,
                                     cpu_threads=threads, align_model=os.environ.get("SCRIPTORIUM_ALIGN_MODEL"))
        bodies = {fmt: render(fmt, result, item.source.stem, max_line_width, max_line_count) for fmt in missing}
    except (MediaError, ModelNotAvailable) as exc:
        reporter.failed(file, str(exc))
        return
    except Exception as exc:  # one file's surprise must not lose the others' work; named, and exit 1
        reporter.failed(file, f"internal error: {type(exc).__name__}: {exc}")
        return
    written = []
    for fmt, path in missing.items():
        if to_stdout:
            click.echo(bodies[fmt], nl=not bodies[fmt].endswith("\n"))
            continue
        try:
            batch.write_atomic(path, bodies[fmt])
        except OSError as exc:
            reporter.failed(file, f"cannot write {path}: {exc.strerror or exc}")
            return
        written.append(str(path))
    elapsed = time.perf_counter() - started
    rtf = elapsed / result.duration if result.duration else None
    speakers = len(result.speakers) if opts.diarize else None
    summary = f"{file}: {seconds(result.duration)} of audio in {seconds(elapsed)}"
    summary += f" (real-time factor {rtf:.2f})" if rtf is not None else ""
    summary += f", {speakers} speaker{'s' * (speakers != 1)}" if speakers is not None else ""
    summary += f" -> {', '.join(written)}" if written else ""
    reporter.update(file, list(spans)[-1], 100, 1.0)
    reporter.done(file, summary, duration=result.duration, elapsed=round(elapsed, 3),
                  rtf=None if rtf is None else round(rtf, 4), speakers=speakers, language=result.language,
                  outputs=written)
