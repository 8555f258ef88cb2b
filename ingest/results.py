"""Results back where the file came from: subtitles and text beside the source (or in an output folder), and
optionally the source moved to ``done/`` or ``failed/`` (with ``NAME.error.txt`` saying why).

Driven by the ledger: folder files whose transcript finished and whose row is still "submitted". Each is
delivered once and marked "delivered"; a write that fails is retried on the next round.

Everything is written through directory file descriptors opened with ``O_NOFOLLOW``: results go only into real
folders under the watched folder (or under the configured output folder), never through a symbolic link, so a
``done/``, ``failed/`` or sub-folder that someone replaced with a link makes delivery stop with a warning instead
of writing elsewhere. Files are created with mode 0666 less the umask (like any program creating a file), so
colleagues on the share can read them; names already taken are never overwritten (``talk.wav`` and ``talk.flac``
get ``talk.srt`` and ``talk.flac.srt``).
"""
from __future__ import annotations

import errno
import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from webapp import exports
from webapp.extensions import db
from webapp.models import IngestRecord, Transcript
from webapp.services.transcripts import segments_data

from ingest import filetypes, ledger
from ingest.filetypes import shown

log = logging.getLogger("scriptorium.ingest")
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


class UnsafeDestination(OSError):
    """A folder on the way is a symbolic link (or not a folder): nothing is written through it."""


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


def _open_dir(base: Path, parts: tuple[str, ...], create: bool) -> int:
    """A descriptor for base/parts, every part a real folder (made when ``create``); ``base`` is trusted."""
    fd = os.open(base, os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_CLOEXEC", 0))
    try:
        for part in parts:
            if create:
                try:
                    os.mkdir(part, dir_fd=fd)  # 0777 less the umask
                except FileExistsError:
                    pass
            try:
                inner = os.open(part, _DIR_FLAGS, dir_fd=fd)
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                    raise UnsafeDestination(exc.errno, f"{part!r} under {base} is a link or not a folder; results "
                                                       "are never written through a link") from None
                raise
            os.close(fd)
            fd = inner
        return fd
    except BaseException:
        os.close(fd)
        raise


def _taken(dir_fd: int, name: str) -> bool:
    try:
        os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        return True
    except FileNotFoundError:
        return False


def _write(dir_fd: int, name: str, text: str) -> None:
    """Write atomically under a hidden temporary name, so the watcher never sees half a file."""
    tmp = f".{name}.{secrets.token_hex(4)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0), 0o666,
                 dir_fd=dir_fd)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)  # replaces a link itself, never its target
    except BaseException:
        try:
            os.unlink(tmp, dir_fd=dir_fd)
        except OSError:
            pass
        raise


def _free_name(dir_fd: int, name: str) -> str:
    """``name``, or ``STEM (2).ext`` and so on when something already has that name."""
    stem, dot, ext = name.rpartition(".") if "." in name.lstrip(".") else (name, "", "")
    n, candidate = 2, name
    while _taken(dir_fd, candidate):
        candidate = f"{stem} ({n}){dot}{ext}"
        n += 1
    return candidate


def _free_stem(dir_fd: int, source_name: str, extensions: list[str]) -> str:
    """A stem none of whose result files exists yet: ``talk``, else ``talk.flac``, else ``talk (2)``..."""
    stem = Path(source_name).stem
    candidates = [stem, source_name]
    n = 2
    while True:
        for cand in candidates:
            if not any(_taken(dir_fd, f"{cand}.{ext}") for ext in extensions):
                return cand
        candidates = [f"{stem} ({n})"]
        n += 1


def deliver(record: IngestRecord, t: Transcript, cfg: Delivery) -> Path:
    """Write one transcript's results for one source file; returns the folder they went to."""
    root = cfg.root.resolve()
    src = Path(record.location)
    if not os.path.lexists(src):  # a name that was not UTF-8 is stored with \xNN escapes
        src = Path(filetypes.unstored(record.location))
    try:
        rel = src.relative_to(root)
    except ValueError:
        raise UnsafeDestination(errno.EXDEV, f"{record.location} is not under the watched folder {root}") from None
    done = t.status == "done"
    name = src.name
    fds: list[int] = []
    try:
        src_fd = _open_dir(root, rel.parent.parts, create=False)
        fds.append(src_fd)
        where, sidecar_fd = src.parent, src_fd
        if cfg.move_done:
            folder = ("done" if done else "failed", *rel.parent.parts)
            sidecar_fd = _open_dir(root, folder, create=True)
            fds.append(sidecar_fd)
            where = root.joinpath(*folder)
            if _taken(src_fd, name):
                moved = _free_name(sidecar_fd, name)
                os.rename(name, moved, src_dir_fd=src_fd, dst_dir_fd=sidecar_fd)
                name = moved
        if cfg.output not in ("off", "beside"):
            out = Path(os.path.abspath(cfg.output))
            if out == root or root in out.parents:  # inside the share: every folder from the root is checked
                base, parts = root, (*out.relative_to(root).parts, *rel.parent.parts)
            else:  # elsewhere: the configured folder itself is the admin's choice, what is below it is checked
                out.mkdir(parents=True, exist_ok=True)
                base, parts = out.resolve(), rel.parent.parts
            sidecar_fd = _open_dir(base, parts, create=True)
            fds.append(sidecar_fd)
            where = out.joinpath(*rel.parent.parts)
        if done and cfg.output != "off":
            extensions = [exports.FORMATS[fmt].extension for fmt in cfg.formats]
            stem = _free_stem(sidecar_fd, name, extensions)
            full = ledger.with_results(t.id)  # segments and words in a few queries, not one per segment
            segments = segments_data(full)
            for fmt, ext in zip(cfg.formats, extensions, strict=True):
                body = exports.export(fmt, segments, title=full.title, language=full.language, duration=full.duration)
                _write(sidecar_fd, f"{stem}.{ext}", body)
        elif not done:
            stem = _free_stem(sidecar_fd, name, ["error.txt"])
            _write(sidecar_fd, f"{stem}.error.txt",
                   f"{filetypes.stored(str(rel))} could not be transcribed: {t.error or 'unknown error'}\n")
        return where
    finally:
        for fd in fds:
            os.close(fd)


_warned: set[str] = set()  # unsafe destinations already reported by this process (retried quietly)


def deliver_pending(cfg: Delivery, limit: int = 100) -> int:
    """Deliver every finished folder transcript not delivered yet (inside an app context). Returns how many."""
    count = 0
    for record, t in ledger.awaiting_delivery(limit):
        try:
            where = deliver(record, t, cfg)
        except UnsafeDestination as exc:
            if record.location not in _warned:
                _warned.add(record.location)
                log.warning("results for %s not written: %s (will retry)", shown(record.location),
                            shown(exc.strerror or str(exc)))
            db.session.rollback()
            continue
        except OSError as exc:
            log.warning("could not write results for %s: %s (will retry)", shown(record.location), shown(str(exc)))
            db.session.rollback()
            continue
        said = (shown(record.location), t.id, t.status, shown(str(where)))  # read before commit expires them
        record.status, record.delivered_to = "delivered", filetypes.stored(str(where))
        record.error = t.error if t.status == "failed" else None
        db.session.commit()
        count += 1
        log.info("%s: results of transcript %s (%s) written to %s", *said)
    return count
