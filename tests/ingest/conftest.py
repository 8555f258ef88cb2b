"""Helpers for the ingestion tests: distinct little WAVs, waiting on conditions, a watcher started in-process."""
from __future__ import annotations

import dataclasses
import math
import struct
import time
import wave
from pathlib import Path

import pytest

SETTLE = 0.4  # seconds of quiet before a file is taken (production default: 2 s)


def make_wav(path: Path, seed: int, seconds: float = 0.2) -> Path:
    """A tiny valid WAV whose content differs for each seed (a tone at a seed-dependent pitch)."""
    rate = 8000
    freq = 200 + 7 * seed
    frames = b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * freq * i / rate)))
                      for i in range(int(rate * seconds)))
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(frames)
    return path


def wait_for(condition, timeout: float = 15.0, interval: float = 0.05, message: str = "condition"):
    """Poll ``condition()`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {message} (last value: {value!r})")
        time.sleep(interval)


@pytest.fixture
def db_query(app):
    """db_query(fn) runs fn(session) in a fresh app context and returns its result."""
    from webapp.extensions import db

    def run(fn):
        with app.app_context():
            try:
                return fn(db.session)
            finally:
                db.session.remove()

    return run


@pytest.fixture
def counts(db_query, app):
    """counts() -> {"transcripts", "ledger", "queued_jobs", "statuses": {ledger status: n}}."""
    from sqlalchemy import func, select

    from webapp import queue
    from webapp.models import IngestRecord, Transcript

    def get() -> dict:
        def q(s):
            statuses = dict(s.execute(select(IngestRecord.status, func.count()).group_by(IngestRecord.status)).all())
            return {"transcripts": s.scalar(select(func.count()).select_from(Transcript)),
                    "ledger": sum(statuses.values()), "statuses": statuses}
        data = db_query(q)
        with app.app_context():
            data["queued_jobs"] = queue.get_queue().count
        return data

    return get


@pytest.fixture
def configure(app):
    """configure(**changes): replace settings fields for this test (restored afterwards). The app builds its
    storage client once from the settings, so a change of storage settings builds a new one, as a restart would."""
    from webapp import storage

    original = app.config["SCRIPTORIUM"]

    def apply(**changes):
        app.config["SCRIPTORIUM"] = dataclasses.replace(app.config["SCRIPTORIUM"], **changes)
        if any(k.startswith("s3_") for k in changes):
            storage.init_app(app)
        return app.config["SCRIPTORIUM"]

    yield apply
    app.config["SCRIPTORIUM"] = original
    storage.init_app(app)


@pytest.fixture
def inbox(tmp_path) -> Path:
    path = tmp_path / "inbox"
    path.mkdir()
    return path


@pytest.fixture
def start_watcher(app, inbox):
    """start_watcher(**kw) -> a started FolderWatcher on ``inbox`` (stopped after the test)."""
    from ingest.folder import FolderWatcher

    started = []

    def start(**kw):
        kw.setdefault("settle", SETTLE)
        watcher = FolderWatcher(app, kw.pop("root", inbox), **kw)
        watcher.start()
        started.append(watcher)
        return watcher

    yield start
    for w in started:
        w.stop()
