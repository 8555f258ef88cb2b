"""Helpers for the web page tests: signing in, the CSRF token, and transcripts made directly in the database
(fast and exact, for the reader, edits and search; the real worker path is covered in test_api/test_pages)."""
from __future__ import annotations

import hashlib
import io
from datetime import datetime, timezone

import pytest
from webhelpers import login

DEFAULT_SEGMENTS = [
    ("SPEAKER_00", "Welcome to the quarterly budget review."),
    ("SPEAKER_01", "Thanks. The marketing budget grew by ten percent."),
    ("SPEAKER_00", "Let us talk about the new warehouse in Leeds."),
]


@pytest.fixture
def make_transcript(app):
    """make_transcript(owner_id, title=..., segments=[(speaker, text), ...], status=..., ...) -> transcript id.

    A done transcript's rows are written by the worker's own ``write_result`` (what ``store_result`` writes at the
    end of a job), from a result made here: each word lasts 0.4 s, segments follow one another with a 0.5 s
    pause; a word listed in ``low`` gets a score of 0.2 (else 0.9). ``media`` bytes are stored in the app's storage.
    """
    from webapp import storage
    from webapp.extensions import db
    from webapp.models import Media, Speaker, Transcript
    from worker.result import Segment, TranscriptResult, Word
    from worker.tasks import write_result

    counter = {"n": 0}

    def result_of(segments, language: str | None, low: tuple) -> TranscriptResult:
        clock, segs = 0.0, []
        for speaker, text in segments:
            tokens, start = text.split(), clock
            words = []
            for tok in tokens:
                words.append(Word(word=tok, start=clock, end=clock + 0.35, speaker=speaker,
                                  score=0.2 if tok.strip(".,") in low else 0.9))
                clock += 0.4
            segs.append(Segment(start=start, end=start + 0.4 * len(tokens), text=text, speaker=speaker, words=words))
            clock += 0.5
        return TranscriptResult(language=language, duration=clock, segments=segs, model="tiny.en",
                                word_timing="whisper", speakers=list(dict.fromkeys(s for s, _ in segments if s)))

    def make(owner_id: int, title: str = "Budget meeting", segments=DEFAULT_SEGMENTS, status: str = "done",
             language: str | None = "en", names: dict | None = None, low: tuple = (), media: bytes | None = None,
             created_at: datetime | None = None, error: str | None = None, mime: str = "audio/x-wav",
             target_app=None) -> int:
        counter["n"] += 1
        body = media if media is not None else b"RIFF" + bytes(range(256)) * 40 + str(counter["n"]).encode()
        sha = hashlib.sha256(body + title.encode()).hexdigest()
        the_app = target_app or app
        with the_app.app_context():
            key = f"media/{sha[:2]}/{sha}"
            tmp = the_app.config["SCRIPTORIUM"].data_dir / f"factory-{sha[:8]}"
            tmp.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_bytes(body)
            storage.get().put_file(key, tmp, mime)
            tmp.unlink()
            m = Media(sha256=sha, size=len(body), original_name=title + ".wav", mime=mime, storage_key=key)
            t = Transcript(owner_id=owner_id, media=m, title=title, status=status, options={},
                           options_key=sha, model="tiny.en", language=None, progress=0, error=error,
                           created_at=created_at or datetime.now(timezone.utc))
            db.session.add(t)
            db.session.flush()
            if status == "done":
                for label, name in (names or {}).items():  # names people gave speakers survive a store
                    t.speakers.append(Speaker(label=label, display_name=name))
                db.session.flush()
                write_result(t, result_of(segments, language, low), elapsed=0.0)
            db.session.commit()
            return t.id

    return make


@pytest.fixture
def people(user_factory, client):
    """An admin, and two people (alice, bob); the client is signed in as alice. Returns ids and tokens."""
    admin_id, admin_token = user_factory("admin", admin=True, password="admin-password")
    alice_id, alice_token = user_factory("alice", password="alice-password")
    bob_id, bob_token = user_factory("bob", password="bob-password")
    assert login(client, "alice", "alice-password").status_code == 302
    return {"admin": (admin_id, admin_token), "alice": (alice_id, alice_token), "bob": (bob_id, bob_token)}


@pytest.fixture
def upload_bytes():
    def make(data: bytes, name: str):
        return {"file": (io.BytesIO(data), name)}
    return make
