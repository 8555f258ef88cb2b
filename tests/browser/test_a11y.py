"""Keyboard and screen-reader use of the pages (issue 13): words reachable by keyboard, focus kept after an edit
saves, a visible focus ring on "Choose files", job status announced once per change, live search that does not
fill the history."""
from __future__ import annotations

import hashlib
import re
from datetime import datetime, timezone

import pytest

expect = pytest.importorskip("playwright.sync_api", reason="pip install playwright pytest-playwright").expect

LINES = [("SPEAKER_00", "Morning everyone, quick round please."),
         ("SPEAKER_01", "I finished the invoice export.")]


def sign_in(page, base: str, name="admin", password="admin-password") -> None:
    page.goto(base + "/login")
    page.get_by_label("Name").fill(name)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Transcribe recordings")).to_be_visible()


def make_done(app, owner_id: int, clip, title: str) -> int:
    """A done transcript of ``clip`` whose rows the worker's own write_result writes (two segments in 0..3 s)."""
    from webapp import storage
    from webapp.extensions import db
    from webapp.models import Media, Transcript
    from worker.result import Segment, TranscriptResult, Word
    from worker.tasks import write_result

    segments, clock = [], 0.0
    for speaker, text in LINES:
        words = [Word(word=w, start=clock + j * 0.25, end=clock + j * 0.25 + 0.2, score=0.9, speaker=speaker)
                 for j, w in enumerate(text.split())]
        segments.append(Segment(start=clock, end=words[-1].end, text=text, speaker=speaker, words=words))
        clock = words[-1].end + 0.3
    with app.app_context():
        key = f"media/a1/{title.replace(' ', '-').lower()}"
        storage.get().put_file(key, clip, "audio/x-wav")
        t = Transcript(owner_id=owner_id, title=title, status="running", options={}, options_key=key,
                       media=Media(sha256=hashlib.sha256(key.encode()).hexdigest(), size=clip.stat().st_size,
                                   original_name=title + ".wav", mime="audio/x-wav", storage_key=key),
                       created_at=datetime.now(timezone.utc))
        db.session.add(t)
        db.session.flush()
        write_result(t, TranscriptResult(language="en", duration=clock, segments=segments, model="tiny.en",
                                         word_timing="whisper", speakers=["SPEAKER_00", "SPEAKER_01"]), 0.0)
        db.session.commit()
        return t.id


def test_words_by_keyboard_and_focus_after_an_edit(page, live_server, app, user_factory, speech):
    uid, _ = user_factory("admin", admin=True, password="admin-password")
    tid = make_done(app, uid, speech(" ".join(text for _, text in LINES)), "Keyboard reader")
    sign_in(page, live_server)
    page.goto(f"{live_server}/transcripts/{tid}")
    page.wait_for_function("() => document.getElementById('player').readyState >= 1")
    words = page.locator(".w")
    # The words are one tab stop, not one per word.
    expect(page.locator('.w[tabindex="0"]')).to_have_count(1)
    expect(page.locator('.w[tabindex="-1"]')).to_have_count(words.count() - 1)
    first = page.locator(".segment").nth(0)
    second = page.locator(".segment").nth(1)
    first.locator(".speaker-name").focus()
    page.keyboard.press("Tab")  # from the speaker's name into the words
    expect(first.locator(".w").first).to_be_focused()
    page.keyboard.press("ArrowRight")
    expect(first.locator(".w").nth(1)).to_be_focused()
    page.keyboard.press("ArrowDown")
    target = second.locator(".w").first
    expect(target).to_be_focused()
    start = float(target.get_attribute("data-start"))
    page.keyboard.press("Enter")  # plays from that word
    page.wait_for_function("() => !document.getElementById('player').paused")
    now = page.evaluate("document.getElementById('player').currentTime")
    assert start - 0.05 <= now < start + 1.5, (start, now)
    page.evaluate("document.getElementById('player').pause()")

    # Edit by keyboard: Tab from the words reaches the segment's Edit button; Escape saves; focus comes back to
    # that Edit button (not to the top of the page).
    page.keyboard.press("ArrowUp")
    expect(first.locator(".w").first).to_be_focused()
    page.keyboard.press("Tab")
    seg_id = first.get_attribute("id")
    expect(page.locator(f"#{seg_id} .edit-btn")).to_be_focused()
    page.keyboard.press("Enter")
    box = page.locator(f"#{seg_id} textarea")
    expect(box).to_be_focused()
    box.fill("Morning everyone, quick round please, zanzibar.")
    page.keyboard.press("Escape")
    expect(page.locator(f"#{seg_id} .w", has_text="zanzibar.")).to_be_visible()
    expect(page.locator(f"#{seg_id} .edit-btn")).to_be_focused()


def test_choose_files_shows_where_keyboard_focus_is(page, live_server, user_factory):
    user_factory("admin", admin=True, password="admin-password")
    sign_in(page, live_server)
    label = page.locator("label.button", has_text="Choose files")
    assert label.evaluate("e => getComputedStyle(e).outlineStyle") == "none"
    for _ in range(40):  # Tab through the page until the (visually hidden) file input has focus
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "file-input":
            break
    assert page.evaluate("document.activeElement.id") == "file-input"
    assert label.evaluate("e => getComputedStyle(e).outlineStyle") == "solid"


def test_status_is_announced_once_per_change_not_per_progress_tick(page, live_server, app, user_factory, speech):
    from webapp.extensions import db
    from webapp.models import Transcript

    uid, _ = user_factory("admin", admin=True, password="admin-password")
    tid = make_done(app, uid, speech("A status to announce."), "Status announce")

    def set_row(**values):
        with app.app_context():
            t = db.session.get(Transcript, tid)
            for k, v in values.items():
                setattr(t, k, v)
            db.session.commit()

    set_row(status="running", stage="transcribe", progress=10)
    sign_in(page, live_server)
    # Count every change of the page's one polite region.
    page.evaluate("""() => { window.__announced = [];
        new MutationObserver(() => window.__announced.push(document.getElementById('announcer').textContent))
          .observe(document.getElementById('announcer'), {childList: true, characterData: true, subtree: true}); }""")
    status = page.locator(f"#status-{tid}")
    expect(status.locator("progress")).to_have_attribute("value", "10")
    set_row(progress=55)
    expect(status.locator("progress")).to_have_attribute("value", "55", timeout=10_000)  # a tick came and went
    assert page.evaluate("window.__announced") == []
    assert status.get_attribute("aria-live") is None and page.locator("td.status-cell[aria-live]").count() == 0
    set_row(status="done", stage=None, progress=100)
    expect(page.locator("#announcer")).to_have_text("Status announce: done", timeout=10_000)
    assert page.evaluate("window.__announced") == ["Status announce: done"]


def test_live_search_replaces_the_address_instead_of_adding_history(page, live_server, user_factory):
    user_factory("admin", admin=True, password="admin-password")
    sign_in(page, live_server)
    page.goto(live_server + "/search")
    before = page.evaluate("history.length")
    page.get_by_label("Words to find").press_sequentially("lighthouse", delay=20)
    expect(page).to_have_url(re.compile(r"/search\?q=lighthouse"))
    page.get_by_label("Words to find").fill("harbour")
    expect(page).to_have_url(re.compile(r"/search\?q=harbour"))
    assert page.evaluate("history.length") == before
