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

    Each word lasts 0.4 s, segments follow one another with a 0.5 s pause; a word listed in ``low`` gets a
    score of 0.2 (else 0.9). ``media`` bytes are stored in the app's storage.
    """
    from webapp.extensions import db
    from webapp.models import Media, Segment, Speaker, Transcript, Word
    from webapp.storage import from_settings

    counter = {"n": 0}

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
            store = from_settings(the_app.config["SCRIPTORIUM"])
            tmp = the_app.config["SCRIPTORIUM"].data_dir / f"factory-{sha[:8]}"
            tmp.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_bytes(body)
            store.put_file(key, tmp, mime)
            tmp.unlink()
            m = Media(sha256=sha, size=len(body), original_name=title + ".wav", mime=mime, storage_key=key)
            t = Transcript(owner_id=owner_id, media=m, title=title, status=status, options={},
                           options_key=sha, model="tiny.en", language=language if status == "done" else None,
                           progress=100 if status == "done" else 0, error=error,
                           created_at=created_at or datetime.now(timezone.utc))
            db.session.add(t)
            db.session.flush()
            if status == "done":
                labels = list(dict.fromkeys(s for s, _ in segments if s))
                for label in labels:
                    db.session.add(Speaker(transcript_id=t.id, label=label, display_name=(names or {}).get(label)))
                clock = 0.0
                for i, (speaker, text) in enumerate(segments):
                    tokens = text.split()
                    seg = Segment(transcript_id=t.id, idx=i, start=clock, end=clock + 0.4 * len(tokens),
                                  speaker=speaker, text=text)
                    db.session.add(seg)
                    db.session.flush()
                    for j, tok in enumerate(tokens):
                        db.session.add(Word(segment_id=seg.id, transcript_id=t.id, idx=j, start=clock,
                                            end=clock + 0.35, word=tok, speaker=speaker,
                                            score=0.2 if tok.strip(".,") in low else 0.9))
                        clock += 0.4
                    clock += 0.5
                t.duration = clock
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
