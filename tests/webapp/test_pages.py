"""The first pages: sign in, the list with its polling status fragment, the transcript page."""
import io
import re

from webhelpers import csrf
from webhelpers import login as sign_in


def test_pages_need_sign_in(client):
    resp = client.get("/")
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]


def test_wrong_password_is_refused(client, user_factory):
    user_factory("admin", admin=True, password="admin-password")
    resp = sign_in(client, password="wrong")
    assert resp.status_code == 401 and b"do not match" in resp.data


def test_empty_list_says_what_to_do(client, user_factory):
    user_factory("admin", admin=True, password="admin-password")
    assert sign_in(client).status_code == 302
    page = client.get("/").get_data(as_text=True)
    assert "Nothing here yet" in page


def test_status_fragment_polls_while_active_and_stops_when_done(client, auth, speech, run_jobs):
    assert sign_in(client).status_code == 302
    with open(speech("Polling stops when the job is done."), "rb") as fh:
        resp = client.post("/upload", data={"file": (fh, "poll.wav")}, content_type="multipart/form-data",
                           headers={"X-CSRF-Token": csrf(client)})
    assert resp.status_code == 302
    page = client.get("/").get_data(as_text=True)
    assert "poll.wav" in page and 'hx-trigger="every 2s"' in page

    tid = client.get("/api/v1/transcripts", headers=auth).get_json()["items"][0]["id"]
    frag = client.get(f"/transcripts/{tid}/status", headers={"HX-Request": "true"})
    assert frag.status_code == 200 and "queued" in frag.get_data(as_text=True)
    assert "every 2s" in frag.get_data(as_text=True)

    run_jobs()

    frag = client.get(f"/transcripts/{tid}/status", headers={"HX-Request": "true"})
    assert frag.status_code == 286  # htmx stops polling
    body = frag.get_data(as_text=True)
    assert "done" in body and "hx-trigger" not in body
    reader = client.get(f"/transcripts/{tid}").get_data(as_text=True)
    spoken = " ".join(re.sub(r"<[^>]+>", " ", reader).split()).lower()
    assert "job is done" in spoken  # the spoken words (one span per word), on the transcript page


def test_transcript_text_is_escaped(client, auth, app):
    assert client.get("/transcripts/999").status_code == 302  # not signed in
    sign_in(client)
    assert client.get("/transcripts/999").status_code == 404
    resp = client.post("/api/v1/transcripts", headers=auth, content_type="multipart/form-data",
                       data={"file": (io.BytesIO(b"RIFF...."), "<img src=x onerror=alert(1)>.wav")})
    tid = resp.get_json()["id"]
    page = client.get("/").get_data(as_text=True)
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(1)&gt;.wav" in page
    assert client.get(f"/transcripts/{tid}").status_code == 200
