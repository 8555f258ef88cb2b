"""Uploads that are not media, and what /media serves (issue 12 item 1), plus the smaller defects found beside it
(item 6: another person's filename after dedupe, a date filter at the end of time, an over-long title, a delete
racing an identical upload, doubled charsets, /healthz leaking connection details) and issue 13 defect 3.

Everything runs against the real app over real PostgreSQL, Redis and S3 (moto over HTTP); the browser half of
the XSS attack is tests/browser/test_xss.py.
"""
from __future__ import annotations

import io
import logging
import threading

import pytest
from sqlalchemy import func, select
from webhelpers import csrf, login

SCRIPT = b"document.title = 'pwned'; fetch('/account');\n"


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def api_upload(client, token: str, data: bytes, name: str, **form):
    return client.post("/api/v1/transcripts", headers=bearer(token), content_type="multipart/form-data",
                       data={"file": (io.BytesIO(data), name), **form})


def stored_keys(app) -> list[str]:
    from webapp.storage import from_settings

    with app.app_context():
        store = from_settings(app.config["SCRIPTORIUM"])
        return sorted(o.object_name for o in store.client.list_objects(store.bucket, recursive=True))


def counts(app) -> tuple[int, int]:
    """(media rows, transcripts)."""
    from webapp.extensions import db
    from webapp.models import Media, Transcript

    with app.app_context():
        n = (db.session.scalar(select(func.count()).select_from(Media)),
             db.session.scalar(select(func.count()).select_from(Transcript)))
        db.session.remove()
        return n


@pytest.fixture
def wav(speech):
    return speech("The committee meets on Tuesday in the library.", name="security-clip.wav").read_bytes()


# -- item 1: stored XSS through the media route ------------------------------------------------------------------

def test_a_script_and_a_page_upload_keep_no_bytes_and_are_never_served(app, client, people):
    """The attack's two files, sent through the API by an ordinary user: each gets a failed transcript that says
    why, nothing is stored, and the admin opening the media links gets a 404, not the page."""
    _, alice = people["alice"]
    script = api_upload(client, alice, SCRIPT, "x.js")
    assert script.status_code == 201, script.get_json()
    js_id = script.get_json()["id"]
    page = (f'<html><body><script src="/transcripts/{js_id}/media"></script></body></html>\n' * 4).encode()
    for data, name in ((page, "evil.html"), (page + b"<!-- 2 -->", "evil.xhtml"), (SCRIPT + b"//2", "x.svg")):
        resp = api_upload(client, alice, data, name)
        assert resp.status_code == 201, (name, resp.get_json())
    bodies = [client.get(f"/api/v1/transcripts/{i}", headers=bearer(alice)).get_json() for i in range(js_id, js_id + 4)]
    assert [(b["status"], b["error"]) for b in bodies] == [("failed", "not an audio or video file")] * 4
    assert stored_keys(app) == []  # not a byte of any of them kept

    from webapp.extensions import db
    from webapp.models import Transcript
    with app.app_context():
        assert all(t.media.storage_key is None and t.media.mime is None
                   for t in db.session.scalars(select(Transcript)))

    admin = app.test_client()
    assert login(admin, "admin", "admin-password").status_code == 302
    for b in bodies:
        resp = admin.get(f"/transcripts/{b['id']}/media")
        assert resp.status_code == 404 and b"<script src=\"/transcripts" not in resp.data, b["id"]
        reader = admin.get(f"/transcripts/{b['id']}").get_data(as_text=True)
        assert "not an audio or video file" in reader and "/media" not in reader
    # retrying cannot resurrect them: there is no recording to run
    retry = client.post(f"/api/v1/transcripts/{js_id}/retry", headers=bearer(alice))
    assert retry.status_code == 409 and "no recording" in retry.get_json()["error"]


def test_the_upload_page_refuses_xhtml_by_name_and_keeps_nothing(app, client, people):
    resp = client.post("/upload", headers={"Accept": "application/json"}, content_type="multipart/form-data",
                       data={"file": (io.BytesIO(b"<html xmlns='http://www.w3.org/1999/xhtml'/>"), "a.xhtml"),
                             "csrf_token": csrf(client)})
    assert resp.status_code == 400
    assert "not an audio or video file (application/xhtml+xml)" in resp.get_json()["error"]
    # a page with a recording's name passes the name check, and the probe fails it: still nothing kept
    resp = client.post("/upload", headers={"Accept": "application/json"}, content_type="multipart/form-data",
                       data={"file": (io.BytesIO(b"<script>alert(1)</script>" * 20), "talk.mp3"),
                             "csrf_token": csrf(client)})
    (result,) = resp.get_json()["files"]
    assert result["ok"] and result["status"] == "failed"
    assert stored_keys(app) == []


def test_media_is_served_with_the_probed_type_never_the_name(app, client, people, wav):
    """A real recording named like a page is stored (it is audio) and served as audio/wav, sandboxed."""
    _, alice = people["alice"]
    resp = api_upload(client, alice, wav, "talk.html")
    assert resp.status_code == 201 and resp.get_json()["status"] == "queued"
    tid = resp.get_json()["id"]
    media = client.get(f"/transcripts/{tid}/media")
    assert media.status_code == 200 and media.data == wav
    assert media.headers["Content-Type"] == "audio/wav"
    assert media.headers["X-Content-Type-Options"] == "nosniff"
    assert media.headers["Content-Security-Policy"] == "default-src 'none'; sandbox"
    assert "Content-Disposition" not in media.headers  # audio plays inline
    part = client.get(f"/transcripts/{tid}/media", headers={"Range": "bytes=0-99"})
    assert part.status_code == 206 and part.headers["Content-Type"] == "audio/wav"
    assert part.headers["Content-Security-Policy"] == "default-src 'none'; sandbox"


@pytest.mark.parametrize("mime", ["text/html", "application/octet-stream", None])
def test_what_is_not_audio_or_video_is_an_attachment_or_nothing(client, people, make_transcript, mime):
    """Rows from before probing: a type from the uploader's name is never sent back as such."""
    tid = make_transcript(people["alice"][0], media=b"<script>alert(document.domain)</script>", mime=mime)
    resp = client.get(f"/transcripts/{tid}/media")
    if mime is None:
        assert resp.status_code == 404
        return
    assert resp.status_code == 200
    assert resp.headers["Content-Type"] == "application/octet-stream"
    assert resp.headers["Content-Disposition"].startswith("attachment")
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["Content-Security-Policy"] == "default-src 'none'; sandbox"


def test_probed_types_for_common_containers(tmp_path):
    """ffmpeg's view of the content decides audio/* or video/*."""
    import subprocess

    from webapp.media_probe import ffmpeg_exe, probe
    from webapp.services.submit import content_type

    def make(name: str, *args: str) -> str:
        out = tmp_path / name
        subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y", *args, str(out)],
                       check=True)
        return content_type(probe(out))

    tone = ("-f", "lavfi", "-i", "sine=frequency=440:duration=0.5")
    assert make("a.mp3", *tone) == "audio/mpeg"
    assert make("a.m4a", *tone, "-c:a", "aac") == "audio/mp4"
    assert make("a.flac", *tone) == "audio/flac"
    assert make("v.mp4", *tone, "-f", "lavfi", "-i", "testsrc=duration=0.5:size=64x48:rate=5",
                "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest") == "video/mp4"


# -- item 6 ---------------------------------------------------------------------------------------------------------

def test_dedupe_keeps_each_persons_own_filename_and_source(app, client, people, wav):
    _, alice = people["alice"]
    _, bob = people["bob"]
    first = api_upload(client, alice, wav, "alice-private-board-meeting.wav").get_json()
    second = api_upload(client, bob, wav, "mine.wav").get_json()
    assert second["id"] != first["id"] and counts(app)[0] == 1  # one stored content, two transcripts
    assert (second["filename"], second["source"]) == ("mine.wav", "upload")
    detail = client.get(f"/api/v1/transcripts/{second['id']}", headers=bearer(bob)).get_json()
    assert detail["filename"] == "mine.wav"
    bob_client = app.test_client()
    login(bob_client, "bob", "bob-password")
    for url in (f"/transcripts/{second['id']}", "/"):
        assert "alice-private" not in bob_client.get(url).get_data(as_text=True), url
    listed = client.get("/api/v1/transcripts", headers=bearer(bob)).get_json()["items"]
    assert [i["filename"] for i in listed] == ["mine.wav"]


@pytest.mark.parametrize("query", ["to=9999-12-31", "from=9999-12-31", "from=0001-01-01&to=9999-12-31",
                                   "to=0001-01-01"])
def test_dates_at_the_ends_of_the_calendar_filter_instead_of_failing(client, people, make_transcript, query):
    make_transcript(people["alice"][0], segments=[("SPEAKER_00", "The lighthouse budget.")])
    expect_hit = query in ("to=9999-12-31", "from=0001-01-01&to=9999-12-31")
    page = client.get(f"/search?q=lighthouse&{query}")
    assert page.status_code == 200
    assert ("<mark>lighthouse</mark>" in page.get_data(as_text=True)) == expect_hit
    api = client.get(f"/api/v1/search?q=lighthouse&{query}", headers=bearer(people["alice"][1]))
    assert api.status_code == 200 and len(api.get_json()["hits"]) == int(expect_hit)


def test_an_over_long_title_is_refused_before_anything_is_stored(app, client, people, wav):
    resp = api_upload(client, people["alice"][1], wav, "talk.wav", title="t" * 256)
    assert resp.status_code == 400 and "at most 255 characters" in resp.get_json()["error"]
    assert stored_keys(app) == [] and counts(app) == (0, 0)
    ok = api_upload(client, people["alice"][1], wav, "talk.wav", title="  Board   meeting " + "t" * 200)
    assert ok.status_code == 201 and ok.get_json()["title"] == "Board meeting " + "t" * 200


def test_a_delete_racing_an_identical_upload_never_fails(app, people, wav):
    """Twelve rounds: one client deletes a transcript while another uploads the same bytes again. Neither answers
    500, and whatever wins, the state is whole: every transcript left can play its recording, and no stored
    object or media row is left without one."""
    _, alice = people["alice"]
    deleter, uploader = app.test_client(), app.test_client()
    for round_ in range(12):
        data = wav + bytes(round_)  # trailing bytes: new content each round, still a valid WAV
        first = api_upload(uploader, alice, data, "race.wav")
        assert first.status_code == 201, first.get_json()
        tid = first.get_json()["id"]
        barrier, answers = threading.Barrier(2), {}

        def delete():
            barrier.wait()
            answers["delete"] = deleter.delete(f"/api/v1/transcripts/{tid}", headers=bearer(alice))

        def upload():
            barrier.wait()
            answers["upload"] = api_upload(uploader, alice, data, "race.wav")

        threads = [threading.Thread(target=delete), threading.Thread(target=upload)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert answers["delete"].status_code == 204, (round_, answers["delete"].get_data(as_text=True))
        assert answers["upload"].status_code in (200, 201), (round_, answers["upload"].get_data(as_text=True))
        got = answers["upload"].get_json()
        if got["id"] != tid:  # the upload came second: a new transcript, and it has its recording
            media = app.test_client()
            login(media, "alice", "alice-password")
            assert media.get(f"/transcripts/{got['id']}/media").status_code == 200, round_
        _assert_whole(app)


def _assert_whole(app) -> None:
    """No media row without a transcript, no stored object without a row, no row whose bytes are missing."""
    from webapp.extensions import db
    from webapp.models import Media, Transcript

    keys = set(stored_keys(app))
    with app.app_context():
        media = db.session.scalars(select(Media)).all()
        used = set(db.session.scalars(select(Transcript.media_id)))
        assert {m.id for m in media} == used
        assert {m.storage_key for m in media if m.storage_key} == keys
        db.session.remove()


def test_text_downloads_name_their_charset_once(client, people, make_transcript):
    tid = make_transcript(people["alice"][0])
    for fmt, ctype in (("txt", "text/plain; charset=utf-8"), ("vtt", "text/vtt; charset=utf-8"),
                       ("srt", "application/x-subrip; charset=utf-8"), ("json", "application/json")):
        for url in (f"/transcripts/{tid}/download.{fmt}", f"/api/v1/transcripts/{tid}/export.{fmt}"):
            headers = bearer(people["alice"][1]) if url.startswith("/api") else {}
            assert client.get(url, headers=headers).headers["Content-Type"] == ctype, url


def test_non_ascii_titles_download_under_their_own_name(client, people, make_transcript):
    tid = make_transcript(people["alice"][0], title="Réunion à Zürich: 会议")
    resp = client.get(f"/transcripts/{tid}/download.txt")
    assert resp.headers["Content-Disposition"] == (
        "attachment; filename=\"Reunion a Zurich.txt\"; "
        "filename*=UTF-8''R%C3%A9union%20%C3%A0%20Z%C3%BCrich_%20%E4%BC%9A%E8%AE%AE.txt")
    from werkzeug.http import parse_options_header
    assert parse_options_header(resp.headers["Content-Disposition"])[1]["filename"] == "Réunion à Zürich_ 会议.txt"


def test_healthz_says_what_is_down_and_logs_where(test_env, _schema, caplog):
    from scriptorium.embedded import free_port
    from webapp import create_app
    from webapp import settings as settings_mod

    port = free_port()
    app = create_app({"TESTING": True}, settings=settings_mod.load(dict(test_env,
                                                                       REDIS_URL=f"redis://127.0.0.1:{port}/0")))
    with caplog.at_level(logging.WARNING, logger="scriptorium.health"):
        resp = app.test_client().get("/healthz")
    assert resp.status_code == 503
    assert resp.get_json() == {"status": "down: queue", "database": "ok", "queue": "down", "storage": "ok"}
    assert str(port) not in resp.get_data(as_text=True)
    assert str(port) in caplog.text  # the operator still learns where


# -- issue 13 defect 3 ------------------------------------------------------------------------------------------

def test_an_integrity_failure_that_is_not_the_duplicate_race_is_raised_not_swallowed(app, wav):
    """An owner who no longer exists: before, the insert's IntegrityError was taken for the duplicate race and
    submit returned no transcript at all. Now it is raised, and the bytes it stored are removed again."""
    from sqlalchemy.exc import IntegrityError

    from webapp.models import User
    from webapp.services.submit import submit_media

    with app.app_context():
        ghost = User(id=424242, name="ghost")  # never inserted
        with pytest.raises(IntegrityError, match="transcripts_owner_id_fkey"):
            submit_media(io.BytesIO(wav), "talk.wav", owner=ghost)
    assert counts(app) == (0, 0) and stored_keys(app) == []


def test_the_same_upload_twice_at_once_is_one_transcript(app, people, wav):
    """The real duplicate race still ends in one transcript, both answers naming it."""
    _, alice = people["alice"]
    barrier, answers = threading.Barrier(4), []

    def upload():
        barrier.wait()
        answers.append(api_upload(app.test_client(), alice, wav, "same.wav"))

    threads = [threading.Thread(target=upload) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(r.status_code for r in answers) == [200, 200, 200, 201]
    assert len({r.get_json()["id"] for r in answers}) == 1 and counts(app) == (1, 1)
    _assert_whole(app)


def test_migration_moves_names_to_transcripts_and_drops_types_guessed_from_names(pg_url):
    """0003_media on a database from before: each transcript gets its media's name and source, and a type that
    came from an uploader's filename is kept only when it is audio/video (or, for media a worker transcribed,
    becomes an octet-stream attachment); a page stored under text/html is never served as one again."""
    import uuid

    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from webapp import migrate

    name = f"mig_{uuid.uuid4().hex[:8]}"
    admin = create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    url = make_url(pg_url).set(database=name).render_as_string(hide_password=False)
    try:
        migrate.upgrade(url, "0002")
        engine = create_engine(url)
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO users (id, name, is_admin, created_at) VALUES (1, 'a', false, now())"))
            rows = [(1, "talk.wav", "audio/x-wav", "done"), (2, "evil.html", "text/html", "failed"),
                    (3, "notes", None, "done"), (4, "x.js", "text/javascript", "done")]
            for mid, fname, mime, status in rows:
                conn.execute(text(
                    "INSERT INTO media (id, sha256, size, original_name, mime, storage_key, source, created_at) "
                    "VALUES (:id, :sha, 1, :name, :mime, :key, 'folder', now())"),
                    {"id": mid, "sha": f"{mid:064x}", "name": fname, "mime": mime, "key": f"media/00/{mid:064x}"})
                conn.execute(text(
                    "INSERT INTO transcripts (owner_id, media_id, title, status, progress, attempts, options, "
                    "options_key, timings, created_at, updated_at) VALUES (1, :id, 'T', :status, 0, 0, '{}', "
                    ":id, '{}', now(), now())"), {"id": mid, "status": status})
        engine.dispose()
        migrate.upgrade(url)
        engine = create_engine(url)
        with engine.connect() as conn:
            got = conn.execute(text("SELECT m.id, m.mime, t.original_name, t.source FROM media m "
                                    "JOIN transcripts t ON t.media_id = m.id ORDER BY m.id")).all()
            nullable = conn.execute(text("SELECT is_nullable FROM information_schema.columns "
                                         "WHERE table_name = 'media' AND column_name = 'storage_key'")).scalar()
        engine.dispose()
        assert [tuple(r) for r in got] == [
            (1, "audio/x-wav", "talk.wav", "folder"), (2, None, "evil.html", "folder"),
            (3, "application/octet-stream", "notes", "folder"), (4, "application/octet-stream", "x.js", "folder")]
        assert nullable == "YES"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()
