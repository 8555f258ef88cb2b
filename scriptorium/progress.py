"""How `transcribe` and `submit` tell a person (or a script) what is happening, always on stderr.

Three shapes, chosen once per run:
* ``bar`` on a terminal: a rich progress bar per file being worked on (stage, percent, audio done, elapsed,
  time left), and one summary line per finished file above the bars;
* ``bar`` when stderr is not a terminal: only the summary lines (no control characters in a log file);
* ``json``: one JSON object per line, for scripts: ``{"event": "progress", "file", "stage", "fraction",
  "percent"}`` per update, then ``done`` (with the summary's figures), ``skipped`` or ``failed`` (with ``error``).
``quiet`` leaves only the failures. stdout stays free for the transcript itself.
"""
from __future__ import annotations

import json
import sys
from typing import Any, TextIO

import click
from rich.console import Console
from rich.text import Text
from rich.progress import (BarColumn, Progress, TaskID, TaskProgressColumn, TextColumn, TimeElapsedColumn,
                           TimeRemainingColumn)

# The pipeline's and the server's stage names, as a person reads them.
STAGE_NAMES = {"diarize": "speakers"}


def stage_name(stage: str | None) -> str:
    return STAGE_NAMES.get(stage or "", stage or "")


class Reporter:
    """Progress and outcome of each file of one run; use as a context manager."""

    def __init__(self, mode: str = "bar", quiet: bool = False, stream: TextIO | None = None):
        self.stream = stream or sys.stderr
        self.mode = "quiet" if quiet else mode
        self.console = Console(file=self.stream, highlight=False, soft_wrap=True)
        self.bars: Progress | None = None
        if self.mode == "bar" and self.console.is_terminal:
            self.bars = Progress(
                TextColumn("{task.description}"), TextColumn("[cyan]{task.fields[stage]:<10}"), BarColumn(),
                TaskProgressColumn(), TextColumn("{task.fields[audio]}"), TimeElapsedColumn(),
                TextColumn("left"), TimeRemainingColumn(), console=self.console,
            )
        self.tasks: dict[str, TaskID] = {}
        self.last: dict[str, tuple[str, int]] = {}
        self.failures = 0

    def __enter__(self) -> "Reporter":
        if self.bars:
            self.bars.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.bars:
            self.bars.stop()

    def _json(self, event: str, file: str, **fields: Any) -> None:
        self.stream.write(json.dumps({"event": event, "file": file, **fields}, ensure_ascii=False) + "\n")
        self.stream.flush()

    def _line(self, text: str, style: str = "") -> None:
        if self.bars:
            self.bars.console.print(Text(text, style=style))
        else:
            click.echo(text, file=self.stream)

    def begin(self, file: str, label: str) -> None:
        """A file's work starts: its bar appears."""
        if self.bars and file not in self.tasks:
            self.tasks[file] = self.bars.add_task(label, total=100, stage="", audio="")

    def restart(self, file: str) -> None:
        """Start the bar's clock again (the server's work begins after the upload's)."""
        if self.bars and file in self.tasks:
            self.bars.reset(self.tasks[file], total=100, completed=0)

    def update(self, file: str, stage: str, percent: float, fraction: float | None = None,
               audio: str = "", **fields: Any) -> None:
        """Where a file stands: ``percent`` of its whole work (0..100), ``fraction`` of the current stage."""
        pct = max(0, min(100, int(percent)))
        stage = stage_name(stage)
        if self.mode == "json":
            if self.last.get(file) != (stage, pct):
                self.last[file] = (stage, pct)
                self._json("progress", file, stage=stage, percent=pct,
                           fraction=None if fraction is None else round(fraction, 3), **fields)
        elif self.bars and file in self.tasks:
            self.bars.update(self.tasks[file], completed=pct, stage=stage, audio=audio)

    def _drop(self, file: str) -> None:
        task = self.tasks.pop(file, None)
        if task is not None and self.bars:
            self.bars.remove_task(task)
            self.bars.refresh()  # else the line printed next is followed by the bar's last picture

    def done(self, file: str, summary: str, **fields: Any) -> None:
        """A file succeeded: its bar gives way to a summary line."""
        self._drop(file)
        if self.mode == "json":
            self._json("done", file, **fields)
        elif self.mode == "bar":
            self._line(summary)

    def skipped(self, file: str, reason: str, **fields: Any) -> None:
        self._drop(file)
        if self.mode == "json":
            self._json("skipped", file, reason=reason, **fields)
        elif self.mode == "bar":
            self._line(f"{file}: skipped, {reason}", style="dim")

    def failed(self, file: str, reason: str, **fields: Any) -> None:
        """A file failed: named with its reason, whatever the mode (``--quiet`` included)."""
        self._drop(file)
        self.failures += 1
        if self.mode == "json":
            self._json("failed", file, error=reason, **fields)
        else:
            self._line(f"error: {file}: {reason}", style="red")

    def failed_all(self, files: list[str], reason: str) -> None:
        """Every file failed for one reason (no model): said once to a person, per file to a script."""
        if self.mode == "json":
            for file in files:
                self.failed(file, reason)
            return
        self.failures += len(files)
        self._line(f"error: {reason}", style="red")

    def tally(self, total: int) -> None:
        """The closing line of a run with failures (json mode has said it all in its events)."""
        if self.failures and self.mode != "json":
            self._line(f"{self.failures} of {total} files failed")

    def note(self, text: str) -> None:
        """A line for people (not in json mode, not in quiet mode)."""
        if self.mode == "bar":
            self._line(text)


def seconds(value: float | None) -> str:
    """58.3 -> "58.3 s"; 3725 -> "1:02:05"."""
    if value is None:
        return "?"
    if value < 60:
        return f"{value:.1f} s"
    whole = int(round(value))
    h, rest = divmod(whole, 3600)
    return f"{h}:{rest // 60:02d}:{rest % 60:02d}" if h else f"{rest // 60}:{rest % 60:02d}"
