"""The list page: upload answers, newest first, pages, status filter, who sees what, retry/cancel/delete, CSRF."""
import io
import re
from datetime import datetime, timedelta, timezone

from webhelpers import csrf, login, post


def row_ids(html: str) -> list[int]:
    return [int(x) for x in re.findall(r'<tr id="row-(\d+)"', html)]


def test_upload_answers_json_per_file_with_options(client, people, app):
    resp = post(client, "/upload", headers={"Accept": "application/json"}, content_type="multipart/form-data",
                data={"file": (io.BytesIO(b"RIFF" + b"\0" * 2000), "talk.wav"), "language": "de", "model": "tiny.en",
                      "diarize": "1", "num_speakers": "2", "translate": "1"})
    assert resp.status_code == 201, resp.get_json()
    got = resp.get_json()["files"][0]
    assert got["ok"] and got["title"] == "talk.wav" and got["url"] == f"/transcripts/{got['id']}"
    from webapp.extensions import db
    from webapp.models import Transcript
    with app.app_context():
        opts = db.session.get(Transcript, got["id"]).options
    assert opts["language"] == "de" and opts["model"] == "tiny.en" and opts["task"] == "translate"
    assert opts["diarize"] is True and opts["num_speakers"] == 2


def test_rejected_files_say_why(client, people):
    def send(data, name):
        return post(client, "/upload", headers={"Accept": "application/json"}, content_type="multipart/form-data",
                    data={"file": (io.BytesIO(data), name)})
    notes = send(b"meeting notes\n", "notes.txt")
    assert notes.status_code == 400 and "not an audio or video file" in notes.get_json()["error"]
    empty = send(b"", "silence.wav")
    assert empty.status_code == 400 and "empty" in empty.get_json()["error"]
    bad_opt = post(client, "/upload", headers={"Accept": "application/json"}, content_type="multipart/form-data",
                   data={"file": (io.BytesIO(b"RIFF1234"), "a.wav"), "language": "klingon!"})
    assert bad_opt.status_code == 400 and "language" in bad_opt.get_json()["error"]


def test_upload_over_the_limit_is_refused_in_words(client, people, app):
    old = app.config["MAX_CONTENT_LENGTH"]
    app.config["MAX_CONTENT_LENGTH"] = 1000
    try:
        resp = post(client, "/upload", headers={"Accept": "application/json"}, content_type="multipart/form-data",
                    data={"file": (io.BytesIO(b"x" * 5000), "big.wav")})
    finally:
        app.config["MAX_CONTENT_LENGTH"] = old
    assert resp.status_code == 413 and "larger than the upload limit" in resp.get_json()["error"]


def test_form_upload_without_javascript_flashes_and_redirects(client, people):
    resp = post(client, "/upload", content_type="multipart/form-data",
                data={"file": [(io.BytesIO(b"RIFF" + b"1" * 99), "one.wav"), (io.BytesIO(b"hi"), "two.txt")]})
    assert resp.status_code == 302
    page = client.get("/").get_data(as_text=True)
    assert "one.wav: queued" in page and "two.txt: not an audio or video file" in page


def test_upload_needs_the_csrf_token(client, people):
    resp = client.post("/upload", data={"file": (io.BytesIO(b"RIFF"), "a.wav")}, content_type="multipart/form-data")
    assert resp.status_code == 403 and b"expired" in resp.data
    resp = client.post("/upload", data={"file": (io.BytesIO(b"RIFF"), "a.wav"), "csrf_token": "wrong"},
                       content_type="multipart/form-data")
    assert resp.status_code == 403


def test_index_offers_installed_models_and_every_page_carries_the_token(client, people):
    page = client.get("/").get_data(as_text=True)
    assert '<option value="tiny.en" selected>tiny.en' in page  # then its speed/accuracy hint
    assert 'name="diarize"' in page and 'name="num_speakers"' in page and 'name="translate"' in page
    with client.session_transaction() as sess:
        token = sess["csrf"]
    assert f'"X-CSRF-Token": "{token}"' in page and f'name="csrf_token" value="{token}"' in page


def test_list_is_newest_first_paginated_and_filtered(client, people, make_transcript):
    alice = people["alice"][0]
    now = datetime.now(timezone.utc)
    ids = [make_transcript(alice, title=f"Talk {i:02d}", created_at=now - timedelta(minutes=i),
                           status="failed" if i % 5 == 0 else "done", error="the file has no audio track")
           for i in range(25)]
    first = client.get("/").get_data(as_text=True)
    assert row_ids(first) == ids[:20] and "Older →" in first
    second = client.get("/?page=2", headers={"HX-Request": "true", "HX-Target": "transcripts"})
    body = second.get_data(as_text=True)
    assert row_ids(body) == ids[20:] and "<html" not in body and "Newer" in body
    assert "HX-Request" in second.headers["Vary"]
    failed = client.get("/?status=failed").get_data(as_text=True)
    assert row_ids(failed) == [ids[i] for i in (0, 5, 10, 15, 20)]
    assert "the file has no audio track" in failed and ">Retry<" in failed
    assert "No cancelled transcripts" in client.get("/?status=cancelled").get_data(as_text=True)


def test_people_see_only_their_own_and_admin_sees_all(client, people, make_transcript):
    mine = make_transcript(people["alice"][0], title="Alice's notes")
    theirs = make_transcript(people["bob"][0], title="Bob's secrets")
    page = client.get("/").get_data(as_text=True)
    assert "Alice&#39;s notes" in page and "Bob&#39;s secrets" not in page
    for url in (f"/transcripts/{theirs}", f"/transcripts/{theirs}/status", f"/transcripts/{theirs}/media",
                f"/transcripts/{theirs}/download.srt", f"/transcripts/{theirs}/title"):
        assert client.get(url).status_code == 404, url
    for url in (f"/transcripts/{theirs}/delete", f"/transcripts/{theirs}/cancel", f"/transcripts/{theirs}/retry"):
        assert post(client, url).status_code == 404, url
    assert client.get(f"/transcripts/{mine}").status_code == 200
    post(client, "/logout")
    login(client, "admin", "admin-password")
    page = client.get("/").get_data(as_text=True)
    assert "Alice&#39;s notes" in page and "Bob&#39;s secrets" in page
    assert client.get(f"/transcripts/{theirs}").status_code == 200


def test_status_fragment_refreshes_the_row_buttons_when_the_job_ends(client, people, make_transcript):
    tid = make_transcript(people["alice"][0], status="failed", error="model 'huge' is not installed")
    frag = client.get(f"/transcripts/{tid}/status?row=1", headers={"HX-Request": "true"})
    body = frag.get_data(as_text=True)
    assert frag.status_code == 286 and "hx-trigger" not in body
    assert f'id="actions-{tid}" hx-swap-oob="true"' in body and "Retry" in body and "is not installed" in body
    queued = make_transcript(people["alice"][0], title="waiting", status="queued")
    frag = client.get(f"/transcripts/{queued}/status?reader=1", headers={"HX-Request": "true"})
    assert frag.status_code == 200 and 'hx-trigger="every 2s"' in frag.get_data(as_text=True)
    page = client.get(f"/transcripts/{queued}").get_data(as_text=True)
    assert "reader=1" in page and "Transcribing" in page and 'aria-live="polite"' in page


def test_retry_cancel_and_delete_from_the_list(client, people, make_transcript, app):
    from webapp.queue import get_queue

    failed = make_transcript(people["alice"][0], title="broken", status="failed", error="could not decode")
    resp = post(client, f"/transcripts/{failed}/retry", htmx=True)
    assert resp.status_code == 200 and f'<tr id="row-{failed}"' in resp.get_data(as_text=True)
    assert "queued" in resp.get_data(as_text=True) and "Cancel" in resp.get_data(as_text=True)
    with app.app_context():
        assert get_queue().count == 1
    resp = post(client, f"/transcripts/{failed}/cancel", htmx=True)
    assert "cancelled" in resp.get_data(as_text=True) and "Retry" in resp.get_data(as_text=True)
    listing = client.get("/").get_data(as_text=True)
    assert 'hx-confirm="Delete “broken” and its recording? This cannot be undone."' in listing
    resp = post(client, f"/transcripts/{failed}/delete", htmx=True, headers={"HX-Target": f"row-{failed}"})
    assert resp.status_code == 200 and resp.get_data(as_text=True) == ""
    assert client.get(f"/transcripts/{failed}").status_code == 404
    # Without JavaScript: plain forms, redirect back with a message.
    other = make_transcript(people["alice"][0], title="second")
    resp = client.post(f"/transcripts/{other}/delete", data={"csrf_token": csrf(client)})
    assert resp.status_code == 302
    assert "second: deleted." in client.get("/").get_data(as_text=True)


def test_failed_reader_shows_the_reason_and_a_retry_button(client, people, make_transcript):
    tid = make_transcript(people["alice"][0], status="failed", error="not an audio or video file")
    page = client.get(f"/transcripts/{tid}").get_data(as_text=True)
    assert "This transcript failed" in page and "not an audio or video file" in page
    assert f'action="/transcripts/{tid}/retry"' in page and "player.js" not in page


def test_error_pages(client, people, app):
    page = client.get("/transcripts/424242")
    assert page.status_code == 404 and "Not found" in page.get_data(as_text=True)
    assert client.get("/no/such/page").status_code == 404
