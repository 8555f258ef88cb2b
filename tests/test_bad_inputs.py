"""Inputs that cannot hurt it: a corpus of bad and odd files, generated here, sent through the JSON API, the
upload page and the watched folder. Each gets a clear answer (a refusal with its reason, a failed transcript
that says why, or — for 0.1 s of silence — a done transcript with no segments); nothing answers 500, no job is
left queued or running, stored keys never contain the client's name or path, download names are safe, and the
next good recording is still transcribed."""
from __future__ import annotations

import io
import random
import re
import subprocess
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import select

LONG_NAME = "ü" * 125 + "x.wav"  # 255 bytes of UTF-8: the longest name a Linux file system allows
NOT_KEPT = ("not an audio or video file", "the file has no audio track", "the file is truncated or corrupt")
KEY_RE = re.compile(r"^media/[0-9a-f]{2}/[0-9a-f]{64}$")
SAFE_DOWNLOAD = re.compile(r"""^attachment; filename=("[A-Za-z0-9._ -]{1,110}"|[A-Za-z0-9._-]{1,110})"""
                           r"""(; filename\*=UTF-8''[A-Za-z0-9%._-]+)?$""")  # an ASCII name, and werkzeug's filename*


def _ffmpeg(*args: str) -> None:
    from worker.audio import ffmpeg_exe

    subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y", *args], check=True)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, speech) -> dict[str, tuple[bytes, str]]:
    """name -> (bytes, what it should come to: "refused" | "failed" | "done" | "silence" | "finished")."""
    d = tmp_path_factory.mktemp("corpus")
    rng = random.Random(6)
    clip = speech("The warehouse in Leeds opens on Monday morning.", name="corpus-speech.wav")
    _ffmpeg("-i", str(clip), "-c:a", "libmp3lame", "-b:a", "48k", str(d / "whole.mp3"))
    mp3 = (d / "whole.mp3").read_bytes()
    _ffmpeg("-f", "lavfi", "-i", "color=c=red:s=16x16", "-frames:v", "1", str(d / "red.png"))
    _ffmpeg("-f", "lavfi", "-i", "testsrc=duration=1:size=128x96:rate=10", "-c:v", "libx264", "-pix_fmt", "yuv420p",
            str(d / "silent-video.mp4"))
    _ffmpeg("-f", "lavfi", "-i", "anullsrc=r=16000:cl=mono", "-t", "0.1", str(d / "silence.wav"))
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("notes.txt", "not a recording")
    return {
        "empty.wav": (b"", "refused"),
        "random.wav": (rng.randbytes(4096), "failed"),
        "random.mp3": (rng.randbytes(4096), "failed"),
        "random.mp4": (rng.randbytes(4096), "failed"),
        "truncated.mp3": (mp3[: len(mp3) // 8], "finished"),  # decodes in part, or fails with words
        "notes.txt": (b"Minutes of the meeting\n" * 40, "refused-by-name"),
        "picture.png": ((d / "red.png").read_bytes(), "refused-by-name"),
        "archive.zip": (archive.getvalue(), "refused-by-name"),
        "silent-video.mp4": ((d / "silent-video.mp4").read_bytes(), "failed"),
        "silence.wav": ((d / "silence.wav").read_bytes(), "silence"),
        LONG_NAME: (clip.read_bytes() + b"\0", "done"),  # a trailing byte: new content, still a valid WAV
        '../../etc/pass"wd.wav': (mp3, "done"),
        'he said "hi"\r\nX-Injected: yes.mp3': (mp3 + b"\0" * 16, "done"),
    }


def _check_outcomes(app, outcomes: dict[str, int | None], expects: dict[str, str]) -> None:
    """Every transcript is finished, as ``expects`` says it should be, and stored under a content key."""
    from webapp.extensions import db
    from webapp.models import Segment, Transcript
    from webapp.storage import from_settings

    with app.app_context():
        for name, tid in outcomes.items():
            expect = expects[name]
            if tid is None:
                assert expect.startswith("refused"), name
                continue
            t = db.session.get(Transcript, tid)
            n_segments = len(db.session.scalars(select(Segment).where(Segment.transcript_id == tid)).all())
            assert t.status in ("done", "failed"), (name, t.status)  # nothing stuck
            if t.status == "failed":
                assert t.error and not t.error.startswith("internal error"), (name, t.error)
                assert expect in ("failed", "finished"), (name, t.error)
            else:
                assert expect in ("done", "silence", "finished"), (name, t.status)
            if expect == "silence":
                assert t.status == "done" and n_segments == 0
            if expect == "done":
                assert t.status == "done" and n_segments >= 1, name
            assert "/" not in t.title and "\n" not in t.title and len(t.title.encode()) <= 255
            assert "/" not in t.media.original_name and "/" not in t.original_name
            if t.status == "failed" and t.error in NOT_KEPT:  # not transcribable: no bytes kept at all
                assert t.media.storage_key is None, (name, t.media.storage_key)
            else:
                assert KEY_RE.match(t.media.storage_key), name
        store = from_settings(app.config["SCRIPTORIUM"])
        keys = [o.object_name for o in store.client.list_objects(store.bucket, recursive=True)]
        assert keys and all(KEY_RE.match(k) for k in keys), keys


def _good_job_still_runs(app, tid: int) -> None:
    from webapp.extensions import db
    from webapp.models import Transcript

    with app.app_context():
        t = db.session.get(Transcript, tid)
        text = " ".join(s.text for s in t.segments).lower()
        assert t.status == "done" and "leeds" in text and "monday" in text, (t.status, t.error, text)


def test_bad_inputs_through_the_api(app, client, auth, corpus, run_jobs, speech):
    outcomes = {}
    for name, (data, expect) in corpus.items():
        resp = client.post("/api/v1/transcripts", headers=auth, content_type="multipart/form-data",
                           data={"file": (io.BytesIO(data), name)})
        assert resp.status_code in (200, 201, 400), (name, resp.status_code)
        body = resp.get_json()
        if resp.status_code == 400:
            assert name == "empty.wav" and body["error"] == "the file is empty"
            outcomes[name] = None
            continue
        if expect in ("failed", "refused-by-name"):  # probed at once: failed with its reason, nothing queued
            assert body["status"] == "failed" and body["error"], (name, body)
        outcomes[name] = body["id"]
    run_jobs()
    # The API does not judge by name: a text file, an image or a zip is refused by probing its content.
    _check_outcomes(app, outcomes, {n: "failed" if e == "refused-by-name" else e for n, (_, e) in corpus.items()})
    for name, tid in outcomes.items():
        if tid is None:
            continue
        detail = client.get(f"/api/v1/transcripts/{tid}", headers=auth).get_json()
        if detail["status"] == "done":
            resp = client.get(f"/api/v1/transcripts/{tid}/export.srt", headers=auth)
            assert resp.status_code == 200 and SAFE_DOWNLOAD.match(resp.headers["Content-Disposition"]), name
        else:
            assert client.get(f"/api/v1/transcripts/{tid}/export.srt", headers=auth).status_code == 409
    good = client.post("/api/v1/transcripts", headers=auth, content_type="multipart/form-data",
                       data={"file": (open(speech("The warehouse in Leeds opens on Monday morning."), "rb"),
                                      "good.wav"), "language": "en"})
    assert good.status_code == 201
    run_jobs()
    _good_job_still_runs(app, good.get_json()["id"])


def test_bad_inputs_through_the_upload_page(app, client, user_factory, corpus, run_jobs):
    from tests.webapp.webhelpers import csrf, login

    user_factory("admin", admin=True, password="admin-password")
    assert login(client).status_code == 302
    outcomes = {}
    for name, (data, expect) in corpus.items():
        resp = client.post("/upload", data={"file": (io.BytesIO(data), name), "csrf_token": csrf(client)},
                           content_type="multipart/form-data", headers={"Accept": "application/json"})
        assert resp.status_code in (200, 201, 400), (name, resp.status_code)
        (result,) = resp.get_json()["files"]
        if expect.startswith("refused"):
            assert resp.status_code == 400 and not result["ok"] and result["error"], (name, result)
            assert "empty" in result["error"] or "not an audio or video file" in result["error"]
            outcomes[name] = None
        else:
            assert result["ok"], (name, result)
            outcomes[name] = result["id"]
    run_jobs()
    _check_outcomes(app, outcomes, {n: e for n, (_, e) in corpus.items()})
    for name, tid in outcomes.items():
        if tid is None:
            continue
        assert client.get(f"/transcripts/{tid}").status_code == 200, name
        resp = client.get(f"/transcripts/{tid}/download.txt")
        assert resp.status_code in (200, 409), name
        if resp.status_code == 200:
            assert SAFE_DOWNLOAD.match(resp.headers["Content-Disposition"]), name
    assert client.get("/").status_code == 200  # the list renders every one of them


def test_bad_inputs_through_the_watched_folder(app, user_factory, corpus, run_jobs, tmp_path, speech):
    from ingest.folder import FolderWatcher
    from tests.ingest.conftest import wait_for
    from webapp.extensions import db
    from webapp.models import IngestRecord

    user_factory("admin", admin=True, password="admin-password")
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    on_disk = {}
    for name, (data, expect) in corpus.items():
        if "/" in name or "\n" in name:
            continue  # not a possible file name; quotes are kept below
        on_disk[name] = data
        (inbox / name).write_bytes(data)
    (inbox / 'quote "marks".mp3').write_bytes(corpus['../../etc/pass"wd.wav'][0] + b"\0" * 32)
    watcher = FolderWatcher(app, inbox, settle=0.4)
    watcher.start()
    try:
        def ledger():
            with app.app_context():
                rows = db.session.scalars(select(IngestRecord)).all()
                db.session.remove()
                return {Path(r.location).name: (r.status, r.transcript_id, r.error) for r in rows}

        wait_for(lambda: len(ledger()) >= 10, timeout=30, message="the corpus in the ledger")
        assert watcher.wait_idle(20)
        rows = ledger()
        assert rows["picture.png"][0] == rows["archive.zip"][0] == "unsupported"
        assert "notes.txt" not in rows and "empty.wav" not in rows  # a sidecar name; a placeholder
        for name in ("random.wav", "random.mp3", "random.mp4", "silent-video.mp4", "silence.wav", LONG_NAME,
                     'quote "marks".mp3', "truncated.mp3"):
            assert rows[name][0] == "submitted", (name, rows[name])
        run_jobs()
        outcomes = {n: rows[n][1] for n in on_disk if n in rows and rows[n][1]}
        _check_outcomes(app, outcomes, {n: e for n, (_, e) in corpus.items()})
        good = speech("The warehouse in Leeds opens on Monday morning.")
        (inbox / "good.wav").write_bytes(good.read_bytes() + b"\0\0")
        wait_for(lambda: ledger().get("good.wav", (None,))[0] == "submitted", message="the good file")
        run_jobs()
        _good_job_still_runs(app, ledger()["good.wav"][1])
    finally:
        watcher.stop()
