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


def test_one_error_negotiator_json_for_the_api_text_for_htmx_a_page_elsewhere(client, people, make_transcript):
    """A transcript still running asked for a download: the same Conflict from the same service, in the shape
    each client reads."""
    queued = make_transcript(people["alice"][0], status="queued")
    alice = {"Authorization": f"Bearer {people['alice'][1]}"}
    api = client.get(f"/api/v1/transcripts/{queued}/export.txt", headers=alice)
    assert api.status_code == 409 and api.get_json() == {
        "error": "the transcript is queued; downloads are ready when it is done"}
    htmx = client.get(f"/transcripts/{queued}/download.txt", headers={"HX-Request": "true"})
    assert htmx.status_code == 409 and htmx.get_data(as_text=True) == (
        "The transcript is queued; downloads are ready when it is done.")
    page = client.get(f"/transcripts/{queued}/download.txt")
    assert page.status_code == 409 and page.mimetype == "text/html"
    assert "The transcript is queued; downloads are ready when it is done." in page.get_data(as_text=True)
    # an unknown format and someone else's transcript are both plain 404s, in each shape
    assert client.get(f"/api/v1/transcripts/{queued}/export.doc",
                      headers={"Authorization": f"Bearer {people['bob'][1]}"}).get_json() == {"error": "not found"}
    assert client.get(f"/transcripts/{queued}/download.doc").status_code == 404


def test_retry_is_refused_while_running_from_the_page_and_the_api(client, people, make_transcript):
    running = make_transcript(people["alice"][0], status="running")
    alice = {"Authorization": f"Bearer {people['alice'][1]}"}
    api = client.post(f"/api/v1/transcripts/{running}/retry", headers=alice)
    assert api.status_code == 409 and "only finished ones can be run again" in api.get_json()["error"]
    htmx = client.post(f"/transcripts/{running}/retry",
                       headers={"HX-Request": "true", "X-CSRF-Token": csrf(client)})
    assert htmx.status_code == 409
    assert htmx.get_data(as_text=True) == "The transcript is running; only finished ones can be run again."


def test_upload_form_options_are_read_by_the_service():
    from werkzeug.datastructures import MultiDict

    from webapp.services.submit import form_options

    form = MultiDict({"csrf_token": "t", "language": "de", "num_speakers": "3", "translate": "on"})
    assert form_options(form) == {"language": "de", "task": "translate"}  # speakers count only with diarize
    form = MultiDict({"language": "de", "num_speakers": "3", "diarize": "on"})
    assert form_options(form) == {"language": "de", "num_speakers": "3", "diarize": "on", "task": "transcribe"}
