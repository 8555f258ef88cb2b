"""A person's day in the browser: sign in, upload, watch the job finish, read along, correct, search, download."""
from __future__ import annotations

import io
import re
import subprocess
from pathlib import Path

import pytest
import srt
import webvtt

expect = pytest.importorskip("playwright.sync_api", reason="pip install playwright pytest-playwright").expect

FIRST = "Welcome to the harbour committee. Today we discuss the lighthouse budget."
SECOND = "Thank you. The lighthouse needs fresh paint and a brighter lamp."


def two_voices(speech, out: Path) -> Path:
    """One WAV with two synthetic speakers, one after the other."""
    a, b = speech(FIRST, "en-us"), speech(SECOND, "en+f3")
    subprocess.run(["sox", str(a), str(b), str(out)], check=True)
    return out


def sign_in(page, base: str, name="admin", password="admin-password") -> None:
    page.goto(base + "/")
    expect(page).to_have_url(re.compile(r"/login\?next=/$"))
    page.get_by_label("Name").fill(name)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Transcribe recordings")).to_be_visible()


def test_upload_read_correct_search_download(page, live_server, user_factory, speech, run_jobs, tmp_path, shot):
    base = live_server
    user_factory("admin", admin=True, password="admin-password")
    page.goto(base + "/login")
    shot(page, "login", full_page=False)
    sign_in(page, base)
    expect(page.get_by_text("Nothing here yet")).to_be_visible()

    # Upload with options; the file's own progress bar and answer appear next to it.
    page.get_by_label("Tell speakers apart").check()
    page.get_by_label("how many").fill("2")
    page.get_by_label("Language").select_option("en")
    clip = two_voices(speech, tmp_path / "harbour.wav")
    notes = tmp_path / "agenda.txt"
    notes.write_text("not a recording\n")
    page.set_input_files("#file-input", [str(clip), str(notes)])
    item = page.locator(".upload-item", has_text="harbour.wav")
    expect(item.get_by_role("link", name="queued")).to_be_visible()
    expect(item.locator("progress")).to_have_attribute("value", "100")
    expect(page.locator(".upload-item", has_text="agenda.txt")).to_contain_text("not an audio or video file")
    href = item.get_by_role("link", name="queued").get_attribute("href")
    tid = int(href.rsplit("/", 1)[1])
    status = page.locator(f"#status-{tid}")
    expect(status).to_contain_text("queued")  # the list refreshed itself after the upload
    page.evaluate("window.__noReload = true")
    shot(page, "upload")

    # The worker runs here while the browser keeps polling the status fragment.
    run_jobs()
    expect(status.locator(".badge")).to_have_text("done", timeout=15_000)
    assert page.evaluate("window.__noReload") is True  # no reload: htmx swapped the fragment
    expect(page.locator(f"#actions-{tid}")).not_to_contain_text("Cancel")  # row buttons refreshed out of band
    shot(page, "transcripts")

    # The reader: click a word, the player jumps there and plays; the spoken word is highlighted.
    page.get_by_role("link", name="harbour.wav").click()
    expect(page.get_by_role("heading", name="harbour.wav")).to_be_visible()
    # Arrow functions, not bare expressions: a bare one is eval'd when Playwright polls it again, which the app's
    # CSP (no 'unsafe-eval') refuses, so the wait failed whenever the media was not ready at the first look.
    page.wait_for_function("() => document.getElementById('player').readyState >= 1")
    word = page.locator(".w", has_text=re.compile(r"^lighthouse", re.I)).first
    start = float(word.get_attribute("data-start"))
    assert start > 1.0
    word.click()
    page.wait_for_function("() => !document.getElementById('player').paused")
    now = page.evaluate("document.getElementById('player').currentTime")
    assert start - 0.05 <= now < start + 1.5, (start, now)
    expect(page.locator(".w.now")).to_have_count(1)
    # Keyboard: space pauses, the right arrow skips 5 s.
    page.locator("h1").click()
    page.keyboard.press("Space")
    page.wait_for_function("() => document.getElementById('player').paused")
    before = page.evaluate("document.getElementById('player').currentTime")
    page.keyboard.press("ArrowRight")
    after = page.evaluate("document.getElementById('player').currentTime")
    duration = page.evaluate("document.getElementById('player').duration")
    assert abs(after - min(before + 5, duration)) < 0.3, (before, after)

    # Rename a speaker for the whole transcript.
    speakers = page.locator(".speaker-row")
    assert speakers.count() >= 1
    label = speakers.first.locator("input[name=name]").get_attribute("placeholder")  # the speaker's label
    speakers.first.locator("input[name=name]").fill("Harbour Master")
    speakers.first.get_by_role("button", name="Rename").click()
    expect(page.locator(f'.speaker-name[data-speaker="{label}"]').first).to_have_text("Harbour Master")

    # Correct a segment inline: saved when the box loses focus; the matching words keep their timing.
    seg = page.locator(".segment").first
    seg_id = seg.get_attribute("id")
    first_word = seg.locator(".w").first
    first_start = first_word.get_attribute("data-start")
    seg.hover()
    seg.get_by_role("button", name=re.compile("Correct the text")).click()
    box = page.locator(f"#{seg_id} textarea")
    expect(box).to_be_focused()
    original = box.input_value()
    box.fill(original.rstrip(".") + " zanzibar.")
    page.locator("h1").click()  # blur
    expect(page.locator(f"#{seg_id} .w", has_text="zanzibar.")).to_be_visible()
    assert page.locator(f"#{seg_id} .w").first.get_attribute("data-start") == first_start
    shot(page, "reader")

    # Search for the corrected word and land on it.
    page.get_by_label("Search transcripts").fill("zanzibar")
    page.keyboard.press("Enter")
    hit = page.locator(".hit").first
    expect(hit.locator("mark")).to_have_text("zanzibar")
    shot(page, "search")
    hit.get_by_role("link").click()
    expect(page).to_have_url(re.compile(rf"/transcripts/{tid}\?t="))
    target = float(re.search(r"t=([\d.]+)", page.url).group(1))
    page.wait_for_function(f"() => Math.abs(document.getElementById('player').currentTime - {target}) < 1.5 && document.getElementById('player').currentTime > 0 || {target} === 0")
    expect(page.locator(f"#{seg_id} .w").first).to_be_in_viewport()

    # Downloads, parsed by the subtitle libraries.
    for fmt in ("SRT", "VTT"):
        with page.expect_download() as info:
            page.get_by_role("link", name=fmt, exact=True).click()
        download = info.value
        assert download.suggested_filename == f"harbour.{fmt.lower()}"
        text = Path(download.path()).read_text()
        if fmt == "SRT":
            cues = list(srt.parse(text))
        else:
            cues = list(webvtt.from_buffer(io.StringIO(text)))
        joined = " ".join(c.content if fmt == "SRT" else c.text for c in cues).lower()
        assert "zanzibar" in joined and "lighthouse" in joined and len(cues) >= 2

    # The account page: make a token, shown once.
    page.get_by_role("link", name="admin").click()
    page.get_by_label("Name for a new token").fill("laptop")
    page.get_by_role("button", name="Create token").click()
    expect(page.locator("#new-token")).to_have_value(re.compile(r"^scr_"))
    shot(page, "account")


def test_phone_layout(browser, live_server, user_factory, shot, app, speech):
    """The reader and the list on a phone-sized screen: nothing wider than the screen."""
    from datetime import datetime, timezone

    from webapp.extensions import db
    from webapp.models import Media, Segment, Speaker, Transcript, Word

    from webapp.storage import from_settings

    uid, _ = user_factory("admin", admin=True, password="admin-password")
    clip = speech("Morning everyone, quick round please.")
    with app.app_context():
        from_settings(app.config["SCRIPTORIUM"]).put_file("media/00/standup", clip, "audio/x-wav")
        t = Transcript(owner_id=uid, title="Standup, Monday", status="done", options={}, options_key="x",
                       language="en", model="base", progress=100, duration=9.0,
                       media=Media(sha256="0" * 64, size=clip.stat().st_size, original_name="standup.wav",
                                   mime="audio/x-wav", storage_key="media/00/standup"),
                       created_at=datetime.now(timezone.utc))
        t.speakers = [Speaker(label="SPEAKER_00", display_name="Priya"), Speaker(label="SPEAKER_01")]
        db.session.add(t)
        db.session.flush()
        lines = [("SPEAKER_00", "Morning everyone, quick round please."),
                 ("SPEAKER_01", "I finished the invoice export and started on the search page."),
                 ("SPEAKER_00", "Great, any blockers?")]
        clock = 0.0
        for i, (spk, text) in enumerate(lines):
            seg = Segment(transcript_id=t.id, idx=i, start=clock, end=clock + 3, speaker=spk, text=text)
            db.session.add(seg)
            db.session.flush()
            for j, w in enumerate(text.split()):
                db.session.add(Word(segment_id=seg.id, transcript_id=t.id, idx=j, start=clock + j * 0.3,
                                    end=clock + j * 0.3 + 0.25, word=w, speaker=spk, score=0.3 if w == "invoice" else 0.9))
            clock += 3
        db.session.commit()
        tid = t.id
    ctx = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True,
                              has_touch=True)
    page = ctx.new_page()
    sign_in(page, live_server)
    for path, name in (("/", "phone-transcripts"), (f"/transcripts/{tid}", "phone-reader")):
        page.goto(live_server + path)
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        shot(page, name, full_page=False)
    expect(page.locator(".w.low")).to_have_text("invoice")
    ctx.close()
