"""What `transcribe` and `submit` share: which files the arguments name, which formats, and where outputs go.

Plain paths and strings only (no webapp, no HTTP, no models), so both commands plan a run the same way:
arguments may be files, directories (their media files; `-r` descends) or glob patterns; each input's outputs
are ``<stem>.<format>`` beside it, or under ``--output-dir`` (keeping the layout below a directory argument);
an input whose outputs all exist is skipped unless ``--overwrite``.
"""
from __future__ import annotations

import glob
import os
from dataclasses import dataclass, field
from pathlib import Path

import click

from ingest.filetypes import classify

FORMATS = ("txt", "srt", "vtt", "json")  # what the exports (webapp.exports.FORMATS) and the API's export.<fmt> give
SUBTITLES = ("srt", "vtt")
_GLOB_CHARS = set("*?[")


def parse_formats(ctx: click.Context | None, param: click.Parameter | None, value: str) -> tuple[str, ...]:
    """`srt,vtt` or `all` (whisperx's spelling) -> ("srt", "vtt"); a usage error for anything else."""
    names = [v.strip().lower() for v in value.replace(" ", ",").split(",") if v.strip()]
    if not names:
        raise click.BadParameter("name at least one format")
    if "all" in names:
        return FORMATS
    unknown = [n for n in names if n not in FORMATS]
    if unknown:
        raise click.BadParameter(f"unknown format {unknown[0]!r}; choose from {', '.join(FORMATS)} or all")
    return tuple(dict.fromkeys(names))


def speech_options(model_help: str, model_envvar: str | None = None):
    """The options `transcribe` and `submit` share (whisperx's names, with dashes), as one decorator."""
    options = [
        click.option("--model", envvar=model_envvar, default=None, help=model_help),
        click.option("--language", default=None, help="Language code such as en or de; detected when omitted."),
        click.option("--task", type=click.Choice(["transcribe", "translate"]), default="transcribe",
                     show_default=True, help="translate: into English."),
        click.option("--diarize/--no-diarize", default=None,
                     help="Label speakers (on by itself when a speaker count is given)."),
        click.option("--num-speakers", type=click.IntRange(1, 20), default=None, help="Exactly this many speakers."),
        click.option("--min-speakers", type=click.IntRange(1, 20), default=None, help="At least this many speakers."),
        click.option("--max-speakers", type=click.IntRange(1, 20), default=None, help="At most this many speakers."),
        click.option("--initial-prompt", default=None, help="Text that sets style and vocabulary (names, jargon)."),
        click.option("--hotwords", default=None, help="Words to favour, space-separated."),
        click.option("--suppress-numerals", is_flag=True, help="Write numbers as words."),
        click.option("--format", "-f", "formats", default="txt", show_default=True, callback=parse_formats,
                     help="Comma-separated txt, srt, vtt, json, or all."),
        click.option("--output-dir", "-o", type=click.Path(file_okay=False, path_type=Path), default=None,
                     help="Write outputs here (default: beside each input)."),
        click.option("--overwrite", is_flag=True, help="Redo files whose outputs already exist."),
        click.option("--recursive", "-r", is_flag=True, help="Descend into sub-directories of DIR arguments."),
        click.option("--progress", "progress_mode", type=click.Choice(["bar", "json"]), default="bar",
                     show_default=True, help="bar: for people (on a terminal); json: one JSON line per update."),
        click.option("--quiet", "-q", is_flag=True, help="No progress and no summaries; failures only."),
    ]

    def decorate(f):
        for option in reversed(options):
            f = option(f)
        return f

    return decorate


def check_speakers(diarize: bool | None, num: int | None, low: int | None, high: int | None) -> bool:
    """Whether to diarize; a usage error for counts that contradict each other."""
    if low and high and low > high:
        raise click.BadParameter(f"--min-speakers {low} is more than --max-speakers {high}")
    if num and ((low and num < low) or (high and num > high)):
        raise click.BadParameter(f"--num-speakers {num} is outside --min-speakers/--max-speakers")
    counts = any(v is not None for v in (num, low, high))
    if diarize is False and counts:
        raise click.BadParameter("speaker counts need --diarize")
    return bool(diarize) or counts


@dataclass
class Item:
    """One input file and the files it should produce."""

    source: Path
    outputs: dict[str, Path] = field(default_factory=dict)  # format -> path

    @property
    def name(self) -> str:
        return str(self.source)

    def missing(self, overwrite: bool) -> dict[str, Path]:
        """The outputs still to write (all of them with ``overwrite``)."""
        return dict(self.outputs) if overwrite else {f: p for f, p in self.outputs.items() if not p.exists()}


def _media_in(directory: Path, recursive: bool) -> list[Path]:
    """Media files in a directory (sorted; hidden, temporary and our own output files left out)."""
    found = []
    for root, dirs, files in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".")) if recursive else []
        found += [Path(root) / f for f in sorted(files) if classify(f) == "media"]
    return found


def expand(arguments: tuple[str, ...], recursive: bool) -> list[tuple[Path, Path | None]]:
    """(file, the directory argument it was found under or None), in argument order, each file once.

    A pattern or missing path that matches nothing is a usage error: nothing runs on a mistyped name.
    """
    out: dict[Path, Path | None] = {}
    for arg in arguments:
        path = Path(arg).expanduser()
        if path.is_dir():
            for f in _media_in(path, recursive):
                out.setdefault(f, path)
        elif path.exists():
            out.setdefault(path, None)
        elif _GLOB_CHARS & set(arg):
            matches = sorted(glob.glob(os.path.expanduser(arg), recursive=recursive))
            files = [Path(m) for m in matches if Path(m).is_file() and classify(Path(m).name) == "media"]
            if not files:
                raise click.BadParameter(f"no media files match {arg!r}", param_hint="FILES")
            for f in files:
                out.setdefault(f, None)
        else:
            raise click.BadParameter(f"no such file or directory: {arg}", param_hint="FILES")
    return list(out.items())


def plan(arguments: tuple[str, ...], formats: tuple[str, ...], output_dir: Path | None,
         recursive: bool) -> tuple[list[Item], list[tuple[Path, str]]]:
    """The inputs with their output paths, and the inputs refused because another one would write the same
    outputs (talk.mp3 and talk.wav side by side both make talk.srt). Empty when the directories hold no media:
    nothing to do is not an error (a script may run over an inbox that is empty today)."""
    items: list[Item] = []
    clashes: list[tuple[Path, str]] = []
    claimed: dict[Path, Path] = {}
    for source, root in expand(arguments, recursive):
        if output_dir is None:
            folder = source.parent
        elif root is not None:
            folder = output_dir / source.parent.relative_to(root)
        else:
            folder = output_dir
        outputs = {fmt: folder / f"{source.stem}.{fmt}" for fmt in formats}
        first = next((claimed[p] for p in outputs.values() if p in claimed), None)
        if first is not None:
            clashes.append((source, f"its outputs would overwrite those of {first}; use --output-dir or rename it"))
            continue
        claimed.update({p: source for p in outputs.values()})
        items.append(Item(source, outputs))
    return items, clashes


def write_atomic(path: Path, body: str | bytes) -> None:
    """Write beside the target and rename, so an interrupted run never leaves a half-written output that a
    later run would take as done and skip."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.part")
    if isinstance(body, str):
        tmp.write_text(body, encoding="utf-8")
    else:
        tmp.write_bytes(body)
    os.replace(tmp, path)
