"""The watched folder: every complete media file dropped under WATCH_DIR is submitted exactly once.

Three threads, none of which waits on another:

* watchdog's observer (inotify, or polling for SMB/NFS mounts) only notes which paths moved; it never stats,
  hashes or talks to the database, so a burst of hundreds of files cannot block it;
* the settler stats the noted paths a few times a second and hands a file on once its size and mtime have not
  changed for ``settle`` seconds (and, with inotify, once the writer has closed it);
* a small thread pool claims each settled file version in the ledger, then streams it into ``submit_media``.

On start (and every ``rescan`` seconds) the whole tree is walked, so files that arrived while the ingester was
down, or that a network share never announced, are found; the ledger makes the repeats free.

Only regular files whose real path is inside the watched folder are taken (looked at with ``lstat`` and opened
with ``O_NOFOLLOW``): a symbolic link, a FIFO or a file reached through a linked folder is refused once, with the
reason in the ledger, so nobody who can write into the folder can make the ingester read a file elsewhere.
"""
from __future__ import annotations

import logging
import os
import stat
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from flask import Flask
from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.polling import PollingObserver

from ingest import filetypes, ledger
from ingest.filetypes import shown
from webapp.extensions import db
from webapp.services.submit import SubmitError, submit_media

log = logging.getLogger("scriptorium.ingest")

# Folders under the watched folder that hold results, never input.
RESULT_FOLDERS = frozenset({"done", "failed", "output"})
# With inotify a writer that has not closed its file yet gets this much longer (a recorder pausing mid-file).
OPEN_WRITE_FACTOR = 10


@dataclass
class _Pending:
    signature: tuple[int, int] | None = None  # (size, mtime_ns) at the last look
    quiet_since: float = 0.0
    writing: bool = False  # inotify saw a write and no close yet


class _Handler(FileSystemEventHandler):
    """Runs on the observer thread: note the path, nothing more."""

    def __init__(self, watcher: "FolderWatcher"):
        self.watcher = watcher

    def on_any_event(self, event: FileSystemEvent) -> None:
        kind = event.event_type
        if kind in ("opened", "closed_no_write", "deleted"):  # our own reads raise these; nothing to do
            return
        path = os.fsdecode(event.dest_path if kind == "moved" else event.src_path)
        if event.is_directory:
            if kind in ("created", "moved"):  # files inside a new or moved-in folder may raise no event
                self.watcher.request_scan(Path(path))
            return
        self.watcher.note(Path(path), writing=kind == "modified", closed=kind == "closed")


class FolderWatcher:
    """Watch ``root`` recursively and submit each complete media file once. ``start()`` / ``stop()``."""

    def __init__(self, app: Flask, root: Path, *, settle: float = 2.0, polling: bool = False, threads: int = 4,
                 rescan: float = 300.0, tick: float | None = None, ignore_dirs: tuple[Path, ...] = ()):
        self.app = app
        self.root = Path(root).resolve()
        self.settle = settle
        self.polling = polling
        self.rescan_every = rescan
        self.tick = tick or min(0.25, max(settle / 4, 0.02))
        self.ignore_dirs = tuple(Path(d).resolve() for d in ignore_dirs)
        self._pending: dict[Path, _Pending] = {}
        self._scans: deque[Path] = deque()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="ingest")
        self._inflight = 0
        self._scanning = False
        self._known: dict[Path, tuple[int, int]] = {}  # versions this process has finished with: rescans skip them
        self._observer = None
        self._settler: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------------------------
    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self._observer = PollingObserver(timeout=1.0) if self.polling else Observer()
        self._observer.schedule(_Handler(self), str(self.root), recursive=True)
        self._observer.start()
        self.request_scan(self.root)  # catch up with what arrived while we were down
        self._settler = threading.Thread(target=self._settle_loop, name="ingest-settler", daemon=True)
        self._settler.start()
        log.info("watching %s (%s, files taken after %.1f s of quiet)", self.root,
                 "polling" if self.polling else "inotify", self.settle)

    def stop(self) -> None:
        self._stop.set()
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout=5)
        if self._settler is not None:
            self._settler.join(timeout=5)
        self._pool.shutdown(wait=True, cancel_futures=True)

    def wait_idle(self, timeout: float) -> bool:
        """True once nothing is pending, queued or being submitted (for tests and benchmarks)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if not self._pending and not self._scans and not self._scanning and self._inflight == 0:
                    return True
            time.sleep(0.02)
        return False

    # -- noting paths (observer thread) ------------------------------------------------------------------------
    def ignored_dir(self, folder: Path) -> bool:
        """Hidden folders, result folders (done/, failed/, output/) and the output directory hold no input."""
        try:
            parts = folder.relative_to(self.root).parts
        except ValueError:
            return True
        if any(p.startswith(".") or p in RESULT_FOLDERS for p in parts):
            return True
        return any(folder == d or d in folder.parents for d in self.ignore_dirs)

    def ignored(self, path: Path) -> bool:
        """Hidden, temporary, in a result folder, or one of our own sidecars: not input."""
        if self.ignored_dir(path.parent):
            return True
        return filetypes.classify(path.name) in ("temporary", "sidecar")  # dot-files count as temporary

    def note(self, path: Path, *, writing: bool = False, closed: bool = False) -> None:
        if self.ignored(path):
            return
        with self._lock:
            p = self._pending.setdefault(path, _Pending())
            p.quiet_since = time.monotonic()  # any activity restarts the quiet period
            if writing and not self.polling:
                p.writing = True
            if closed:
                p.writing = False

    def request_scan(self, folder: Path) -> None:
        with self._lock:
            self._scans.append(folder)

    # -- the settler thread ------------------------------------------------------------------------------------
    def _scan(self, folder: Path) -> None:
        if folder.is_symlink():  # a linked folder moved in: never walked (os.walk would follow the top link)
            return
        for dirpath, dirnames, filenames in os.walk(folder):  # does not descend into linked folders
            here = Path(dirpath)
            dirnames[:] = [d for d in dirnames if not self.ignored_dir(here / d)]
            for name in filenames:
                path = here / name
                with self._lock:
                    known = self._known.get(path)
                if known is not None:
                    try:
                        st = os.lstat(path)
                    except OSError:
                        continue
                    if (st.st_size, st.st_mtime_ns) == known:
                        continue
                self.note(path)

    def _settle_loop(self) -> None:
        next_rescan = time.monotonic() + self.rescan_every
        while not self._stop.wait(self.tick):
            try:
                if time.monotonic() >= next_rescan:
                    next_rescan = time.monotonic() + self.rescan_every
                    self.request_scan(self.root)
                while True:
                    with self._lock:
                        folder = self._scans.popleft() if self._scans else None
                        self._scanning = folder is not None
                    if folder is None:
                        break
                    try:
                        self._scan(folder)
                    finally:
                        with self._lock:
                            self._scanning = False
                self._check_pending()
            except Exception:  # keep watching whatever one bad path does
                log.exception("ingest settler error")

    def _check_pending(self) -> None:
        now = time.monotonic()
        with self._lock:
            items = list(self._pending.items())
        for path, p in items:
            try:
                st = os.lstat(path)  # a link is judged as a link, never by what it points at
            except OSError:  # gone (renamed, deleted): its new name raises its own event
                with self._lock:
                    self._pending.pop(path, None)
                continue
            sig = (st.st_size, st.st_mtime_ns)
            with self._lock:
                if sig != p.signature:
                    p.signature, p.quiet_since = sig, now
                    continue
                quiet = self.settle * (OPEN_WRITE_FACTOR if p.writing else 1)
                if now - p.quiet_since < quiet:
                    continue
                del self._pending[path]
                self._inflight += 1
            self._pool.submit(self._take, path, sig)

    # -- the pool: claim and submit ----------------------------------------------------------------------------
    def _take(self, path: Path, sig: tuple[int, int]) -> None:
        try:
            with self.app.app_context():
                try:
                    if self._ingest(path, sig):
                        with self._lock:
                            self._known[path] = sig
                finally:
                    db.session.remove()
        except Exception:
            with self._lock:
                self._known.pop(path, None)  # the next rescan tries again (the ledger row says "error")
            log.exception("could not ingest %s", shown(str(path)))
        finally:
            with self._lock:
                self._inflight -= 1

    def refusal(self, path: Path) -> str | None:
        """Why this path is not a file we may read, or None for a regular file really inside the folder."""
        st = os.lstat(path)
        if stat.S_ISLNK(st.st_mode):
            return "a symbolic link: only regular files inside the watched folder are taken"
        if not stat.S_ISREG(st.st_mode):
            return "not a regular file"
        real = Path(os.path.realpath(path))
        if self.root not in real.parents:
            return "outside the watched folder (reached through a linked folder)"
        return None

    def _refuse(self, location: str, rel: str, sig: tuple[int, int], reason: str, status: str) -> bool:
        """Record a file we will not take, and say so once."""
        if ledger.note_unsupported("folder", location, sig[0], str(sig[1]), reason, status=status):
            log.warning("%s: %s; left alone", rel, reason)
        return True

    def _ingest(self, path: Path, sig: tuple[int, int]) -> bool:
        """Take one settled file version. True when it is settled for good (no need to look at it again)."""
        size, mtime_ns = sig
        rel = shown(str(path.relative_to(self.root)))
        # PostgreSQL text cannot hold a name that is not UTF-8: such bytes are stored as \xNN escapes.
        location, version, title = filetypes.stored(str(path)), str(mtime_ns), filetypes.title(path.name)
        try:
            refused = self.refusal(path)
        except FileNotFoundError:
            return False
        if refused:
            return self._refuse(location, rel, sig, refused, "rejected")
        if size == 0:
            return False  # a placeholder; its content raises a new event when it arrives
        if filetypes.classify(path.name) == "unsupported":
            ext = filetypes.extension(path.name) or "no extension"
            return self._refuse(location, rel, sig, f"not an audio or video file (.{shown(ext)})", "unsupported")
        limit_mb = self.app.config["SCRIPTORIUM"].max_upload_mb
        if size > limit_mb * 1024 * 1024:  # refused before a byte is copied
            return self._refuse(location, rel, sig, f"the file is larger than the {limit_mb} MB upload limit",
                                "rejected")
        if not ledger.owner_exists():
            log.warning("%s: waiting for an admin account to own folder files; will retry", rel)
            return False
        row = ledger.claim("folder", location, size, version)
        if row is None:
            return True  # taken before (this run, an earlier run, or another thread just now)
        try:
            # O_NOFOLLOW: a file swapped for a link since the lstat above fails here instead of being followed.
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
            with open(fd, "rb") as fh:
                st = os.fstat(fd)
                if not stat.S_ISREG(st.st_mode) or (st.st_size, st.st_mtime_ns) != sig:
                    ledger.release(row)
                    self.note(path)  # still changing (or swapped): settle and judge again
                    return False
                result = submit_media(fh, title, "folder")
        except (FileNotFoundError, OSError) as exc:
            if isinstance(exc, FileNotFoundError) or exc.errno == getattr(os, "ELOOP", 40):
                ledger.release(row)  # gone, or became a link: its next sighting is judged afresh
                return False
            db.session.rollback()
            ledger.finish(row, "error", error=f"{type(exc).__name__}: {str(exc)[:300]}")
            raise
        except SubmitError as exc:
            ledger.finish(row, "rejected", error=str(exc))
            log.warning("%s refused: %s", rel, shown(str(exc)))
            return True
        except Exception as exc:
            db.session.rollback()
            ledger.finish(row, "error", error=f"{type(exc).__name__}: {str(exc)[:300]}")
            raise
        t = result.transcript
        ledger.finish(row, "submitted", transcript_id=t.id, sha256=t.media.sha256)
        log.info("%s -> transcript %s (%s)", rel, t.id,
                 "queued" if result.created else f"same content as transcript {t.id}, {t.status}")
        return True
