"""Record in the browser: Chromium's fake microphone plays an espeak recording, the page records it with
MediaRecorder, shows the level and the time, uploads it through the upload path, and the job transcribes it."""
from __future__ import annotations

import re

import pytest
import requests

expect = pytest.importorskip("playwright.sync_api", reason="pip install playwright pytest-playwright").expect

WORDS = "The orchestra will rehearse on Thursday evening in the concert hall."


@pytest.fixture
def mic_page(playwright, browser_type_launch_args, speech):
    """A page of a Chromium whose microphone plays ``WORDS`` (a separate launch: the flags are per browser)."""
    wav = speech(WORDS, name="microphone.wav")
    args = [*browser_type_launch_args["args"], "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
            f"--use-file-for-fake-audio-capture={wav}"]
    browser = playwright.chromium.launch(**{**browser_type_launch_args, "args": args})
    context = browser.new_context(viewport={"width": 1280, "height": 860}, accept_downloads=True)
    yield context.new_page()
    context.close()
    browser.close()


def sign_in(page, base: str) -> None:
    page.goto(base + "/login")
    page.get_by_label("Name").fill("admin")
    page.get_by_label("Password").fill("admin-password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Transcribe recordings")).to_be_visible()


def test_record_upload_and_read(mic_page, live_server, user_factory, run_jobs, auth):
    page = mic_page
    sign_in(page, live_server)
    page.get_by_label("Language").select_option("en")
    page.get_by_role("button", name="Record").click()
    expect(page.locator("#record-status")).to_have_text("Recording…")
    page.wait_for_function("() => document.getElementById('record-level').value > 0.02")  # the meter hears the voice
    # the fake microphone loops the clip (~4.5 s): record past one full pass
    page.wait_for_function("() => Number(document.getElementById('record-time').dataset.seconds) >= 6", timeout=20000)
    expect(page.locator("#record-time")).to_have_text(re.compile(r"^00:0[6-9]$"))
    page.get_by_role("button", name="Stop").click()

    item = page.locator(".upload-item", has_text="Recording ")
    expect(item.get_by_role("link", name="queued")).to_be_visible(timeout=15000)
    tid = int(item.get_by_role("link", name="queued").get_attribute("href").rsplit("/", 1)[1])
    expect(page.locator("#recordings")).to_be_hidden()  # taken by the server: nothing kept any more
    assert page.evaluate("""() => new Promise(r => { const q = indexedDB.open('scriptorium-recordings');
        q.onsuccess = () => { const c = q.result.transaction('recordings').objectStore('recordings').count();
        c.onsuccess = () => r(c.result); }; })""") == 0

    run_jobs()
    body = requests.get(f"{live_server}/api/v1/transcripts/{tid}", headers=auth, timeout=10).json()
    assert body["status"] == "done" and body["duration"] >= 5
    text = " ".join(s["text"] for s in body["segments"]).lower()
    for word in ("orchestra", "thursday", "concert"):
        assert word in text, text
    page.goto(f"{live_server}/transcripts/{tid}")
    expect(page.locator("main")).to_contain_text(re.compile("orchestra", re.I))


def test_a_failed_upload_keeps_the_recording_to_download(mic_page, live_server, user_factory, auth):
    """The connection drops as the recording goes up: it stays in the page (and IndexedDB), downloadable, and is
    offered again after a reload."""
    page = mic_page
    sign_in(page, live_server)
    page.get_by_role("button", name="Record").click()
    page.wait_for_function("() => Number(document.getElementById('record-time').dataset.seconds) >= 2", timeout=20000)
    page.route("**/upload", lambda route: route.abort("internetdisconnected"))
    page.get_by_role("button", name="Stop").click()
    kept = page.locator("#recordings li")
    expect(kept).to_have_count(1)
    expect(page.locator(".upload-item.bad")).to_contain_text("interrupted")
    with page.expect_download() as dl:
        kept.get_by_role("link", name="Download").click()
    path = dl.value.path()
    assert path and open(path, "rb").read(4) in (b"\x1aE\xdf\xa3", b"OggS")  # a WebM (EBML) or Ogg file
    page.unroute("**/upload")
    page.reload()
    expect(page.locator("#recordings li")).to_have_count(1)  # still kept after the page went away
    page.locator("#recordings li").get_by_role("button", name="Upload again").click()
    expect(page.locator(".upload-item", has_text="Recording ").get_by_role("link", name="queued")).to_be_visible()
    expect(page.locator("#recordings")).to_be_hidden()
