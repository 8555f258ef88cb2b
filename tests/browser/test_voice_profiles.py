"""Voice profiles in the browser: remember a voice from the reader's Speakers panel, see it recognised in the next
recording, and find the person on the People page. Real audio (pyannote's two-speaker sample, cut in halves as
tests/worker/test_voices.py does), the real pipeline (tiny.en) and GE2E encoder, one transcript per half."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

expect = pytest.importorskip("playwright.sync_api", reason="pip install playwright pytest-playwright").expect

SPLIT_S = 17.5  # where the diarizer tells both voices apart in both halves (see tests/worker/test_voices.py)
FORM = {"diarize": "1", "num_speakers": "2", "model": "tiny.en"}


@pytest.fixture(scope="module")
def halves(tmp_path_factory):
    pyannote_audio = pytest.importorskip("pyannote.audio")
    sample = Path(pyannote_audio.__file__).parent / "sample"
    out = tmp_path_factory.mktemp("voices")
    first, second = out / "monday.wav", out / "tuesday.wav"
    subprocess.run(["sox", str(sample / "sample.wav"), str(first), "trim", "0", str(SPLIT_S)], check=True)
    subprocess.run(["sox", str(sample / "sample.wav"), str(second), "trim", str(SPLIT_S)], check=True)
    reference = []
    for line in (sample / "sample.rttm").read_text().splitlines():
        f = line.split()
        reference.append((float(f[3]), float(f[3]) + float(f[4]), f[7]))
    return first, second, reference


def _submit(client, auth, path: Path) -> int:
    with open(path, "rb") as fh:
        resp = client.post("/api/v1/transcripts", data={"file": (fh, path.name), **FORM}, headers=auth,
                           content_type="multipart/form-data")
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()["id"]


def _label_of(client, auth, tid: int, reference, offset: float, who: str) -> str:
    """The speaker label that says most of ``who``'s words (by the reference turns)."""
    detail = client.get(f"/api/v1/transcripts/{tid}", headers=auth).get_json()
    assert detail["status"] == "done", detail["error"]
    by_name = {s["name"]: s["label"] for s in detail["speakers"]}
    talk: dict[str, float] = {}
    for seg in detail["segments"]:
        for w in seg["words"]:
            mid = offset + (w["start"] + w["end"]) / 2
            if any(a <= mid <= b and r == who for a, b, r in reference):
                label = by_name.get(w["speaker"], w["speaker"])
                talk[label] = talk.get(label, 0.0) + w["end"] - w["start"]
    assert talk, detail["speakers"]
    return max(talk, key=talk.get)


def test_remember_a_voice_and_see_it_recognised_next_time(page, live_server, user_factory, client, run_jobs,
                                                          halves):
    first, second, reference = halves
    _, token = user_factory("vera", password="vera-password")
    auth = {"Authorization": f"Bearer {token}"}
    tid1 = _submit(client, auth, first)
    run_jobs()
    label1 = _label_of(client, auth, tid1, reference, 0.0, "speaker90")

    page.goto(live_server + "/login")
    page.get_by_label("Name").fill("vera")
    page.get_by_label("Password").fill("vera-password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Transcribe recordings")).to_be_visible()

    # Monday's reader: remember the voice of speaker90's label as a new person, Ada
    page.goto(f"{live_server}/transcripts/{tid1}")
    panel = page.locator("#speakers")
    remember = panel.locator("details.remember", has=page.locator(f"form[action$='/speakers/{label1}/remember']"))
    remember.get_by_text("Remember this voice as…").click()
    remember.get_by_label("New person’s name").fill("Ada")
    remember.get_by_role("button", name="Remember").click()
    expect(panel.get_by_role("button", name="Find Ada in earlier recordings")).to_be_visible()
    expect(panel.locator("input[name=name][value='Ada']")).to_have_count(1)

    # Tuesday: the same voice is named Ada by itself, marked as recognised; the other voice is not Ada
    tid2 = _submit(client, auth, second)
    run_jobs()
    label2 = _label_of(client, auth, tid2, reference, SPLIT_S, "speaker90")
    page.goto(f"{live_server}/transcripts/{tid2}")
    row = panel.locator("form.speaker-row", has=page.locator(f"label:has-text('{label2}')"))
    expect(row.get_by_role("textbox")).to_have_value("Ada")
    expect(panel.get_by_text(re.compile(r"Recognised by voice \(similarity 0\.(8[5-9]|9\d)"))).to_have_count(1)
    expect(page.locator("article.segment .seg-meta", has_text="Ada").first).to_be_visible()  # her lines too

    # the People page lists Ada with both recordings she speaks in, Tuesday's marked recognised
    page.goto(f"{live_server}/people")
    ada = page.locator("section.person", has=page.get_by_role("heading", name="Ada"))
    expect(ada).to_have_count(1)
    expect(ada.get_by_role("link", name="monday.wav")).to_have_count(2)  # her voiceprint's source, and a recording
    tuesday = ada.locator("li", has=page.get_by_role("link", name="tuesday.wav"))
    expect(tuesday).to_contain_text("recognised")
    tuesday.get_by_role("link", name="tuesday.wav").click()
    expect(page).to_have_url(re.compile(rf"/transcripts/{tid2}$"))
