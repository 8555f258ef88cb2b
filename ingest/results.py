"""Results back where the file came from: subtitles and text beside the source (or in an output folder), and
optionally the source moved to ``done/`` or ``failed/`` (with ``NAME.error.txt`` saying why).

Driven by the ledger: folder files whose transcript finished and whose row is still "submitted". Each is
delivered once and marked "delivered"; a write that fails is retried on the next round.
"""
from __future__ import annotations

import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from webapp import exports
from webapp.extensions import db
from webapp.models import IngestRecord, Transcript
from webapp.services.transcripts import segments_data

from ingest import ledger

log = logging.getLogger("scriptorium.ingest")


@dataclass(frozen=True)
class Delivery:
    """Where results go. ``output``: "off", "beside" or a directory; ``move_done``: file sources away."""

    root: Path
    output: str = "off"
    formats: tuple[str, ...] = ("srt", "vtt", "txt")
    move_done: bool = False

    @property
    def enabled(self) -> bool:
        return self.output != "off" or self.move_done


def _write(path: Path, text: str) -> None:
    """Write atomically under a hidden temporary name, so the watcher never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _free_name(path: Path) -> Path:
    """``path``, or ``NAME (2).ext`` and so on when something already has that name."""
    n, candidate = 2, path
    while candidate.exists():
        candidate = path.with_name(f"{path.stem} ({n}){path.suffix}")
        n += 1
    return candidate


def deliver(record: IngestRecord, t: Transcript, cfg: Delivery) -> Path:
    """Write one transcript's results for one source file; returns the folder they went to."""
    src = Path(record.location)
    try:
        rel = src.relative_to(cfg.root)
    except ValueError:
        rel = Path(src.name)
    done = t.status == "done"
    sidecar_dir = src.parent
    if cfg.move_done:
        sidecar_dir = cfg.root / ("done" if done else "failed") / rel.parent
        if src.exists():
            sidecar_dir.mkdir(parents=True, exist_ok=True)
            moved = _free_name(sidecar_dir / src.name)
            shutil.move(src, moved)
            src = moved
    if cfg.output not in ("off", "beside"):
        sidecar_dir = Path(cfg.output) / rel.parent
    stem = src.stem
    if done and cfg.output != "off":
        segments = segments_data(t)
        for fmt in cfg.formats:
            body = exports.export(fmt, segments, title=t.title, language=t.language, duration=t.duration)
            _write(sidecar_dir / f"{stem}.{exports.FORMATS[fmt].extension}", body)
    elif not done:
        _write(sidecar_dir / f"{stem}.error.txt",
               f"{rel} could not be transcribed: {t.error or 'unknown error'}\n")
    return sidecar_dir


def deliver_pending(cfg: Delivery, limit: int = 100) -> int:
    """Deliver every finished folder transcript not delivered yet (inside an app context). Returns how many."""
    count = 0
    for record, t in ledger.awaiting_delivery(limit):
        try:
            where = deliver(record, t, cfg)
        except OSError as exc:
            log.warning("could not write results for %s: %s (will retry)", record.location, exc)
            db.session.rollback()
            continue
        record.status, record.delivered_to = "delivered", str(where)
        record.error = t.error if t.status == "failed" else None
        db.session.commit()
        count += 1
        log.info("%s: results of transcript %s (%s) written to %s", record.location, t.id, t.status, where)
    return count
