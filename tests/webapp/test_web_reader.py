"""The reader: timed words, speakers, low-confidence marks, the Range-capable media route, downloads, edits."""
import dataclasses
import json
import re

import pytest
import srt
import webvtt

from webhelpers import csrf, login, post


def words_in(html: str) -> list[tuple[float, str]]:
    return [(float(s), w) for s, w in re.findall(r'<span class="w[^"]*" data-start="([\d.]+)"[^>]*>([^<]*)</span>', html)]


def test_reader_shows_timed_words_speakers_and_uncertain_words(client, people, make_transcript):
    tid = make_transcript(people["alice"][0], names={"SPEAKER_00": "Dana"}, low=("Leeds",))
    page = client.get(f"/transcripts/{tid}").get_data(as_text=True)
    words = words_in(page)
    assert words[:3] == [(0.0, "Welcome"), (0.4, "to"), (0.8, "the")]
    assert len(words) == 23
    assert re.search(r'<span class="w low" data-start="[\d.]+" data-end="[\d.]+" title="Low confidence \(20%\)[^"]*">Leeds\.</span>', page)
    assert page.count('class="segment spk-0"') == 2 and page.count('class="segment spk-1"') == 1
    assert ">Dana</button>" in page and ">SPEAKER_01</button>" in page
    assert '<audio id="player" controls preload="metadata" src="/transcripts/%d/media"' % tid in page
    assert 'class="when" data-start="0.00"' in page and "player.js" in page
    for fmt in ("txt", "srt", "vtt", "json"):
        assert f"/transcripts/{tid}/download.{fmt}" in page


def test_reader_starts_at_the_time_given(client, people, make_transcript):
    tid = make_transcript(people["alice"][0])
    page = client.get(f"/transcripts/{tid}?t=7.5").get_data(as_text=True)
    assert 'data-start-at="7.5"' in page


def test_video_gets_a_video_element(client, people, make_transcript):
    tid = make_transcript(people["alice"][0], mime="video/mp4")
    assert '<video id="player"' in client.get(f"/transcripts/{tid}").get_data(as_text=True)


def check_ranges(client, tid: int, body: bytes) -> None:
    full = client.get(f"/transcripts/{tid}/media")
    assert full.status_code == 200 and full.data == body
    assert full.headers["Accept-Ranges"] == "bytes" and full.headers["Content-Type"].startswith("audio/")
    part = client.get(f"/transcripts/{tid}/media", headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and part.data == body[100:200]
    assert part.headers["Content-Range"] == f"bytes 100-199/{len(body)}" and part.headers["Content-Length"] == "100"
    tail = client.get(f"/transcripts/{tid}/media", headers={"Range": "bytes=-50"})
    assert tail.status_code == 206 and tail.data == body[-50:]
    open_end = client.get(f"/transcripts/{tid}/media", headers={"Range": f"bytes={len(body) - 10}-"})
    assert open_end.status_code == 206 and open_end.data == body[-10:]
    beyond = client.get(f"/transcripts/{tid}/media", headers={"Range": f"bytes={len(body) + 5}-"})
    assert beyond.status_code == 416 and beyond.headers["Content-Range"] == f"bytes */{len(body)}"
    etag = full.headers["ETag"].strip('"')
    stale = client.get(f"/transcripts/{tid}/media", headers={"Range": "bytes=0-9", "If-Range": '"other"'})
    assert stale.status_code == 200 and stale.data == body
    fresh = client.get(f"/transcripts/{tid}/media", headers={"Range": "bytes=0-9", "If-Range": f'"{etag}"'})
    assert fresh.status_code == 206 and fresh.data == body[:10]


def test_media_ranges_from_the_bucket(client, people, make_transcript):
    body = bytes(range(256)) * 4096 + b"end"  # 1 MiB and a bit: crosses the storage chunk size
    tid = make_transcript(people["alice"][0], media=body)
    check_ranges(client, tid, body)


@pytest.fixture
def local_app(settings, _schema, tmp_path):
    """The same database, but media in a local directory (the embedded mode's storage)."""
    from webapp import create_app

    local = dataclasses.replace(settings, s3_endpoint=None, data_dir=tmp_path / "data")
    return create_app({"TESTING": True, "SESSION_COOKIE_SECURE": False}, settings=local)


def test_media_ranges_from_a_local_directory(app, local_app, user_factory, make_transcript):
    assert local_app.config["SCRIPTORIUM"].storage_backend == "local"
    uid, _ = user_factory("carol", password="carol-password")
    body = b"ID3" + bytes(range(256)) * 5000
    tid = make_transcript(uid, media=body, target_app=local_app)
    client = local_app.test_client()
    login(client, "carol", "carol-password")
    check_ranges(client, tid, body)


def test_downloads_in_every_format_named_after_the_title(client, people, make_transcript):
    tid = make_transcript(people["alice"][0], title="Budget: Q3 / review", names={"SPEAKER_01": "Sam"})
    got = {}
    for fmt in ("txt", "srt", "vtt", "json"):
        resp = client.get(f"/transcripts/{tid}/download.{fmt}")
        assert resp.status_code == 200, fmt
        assert resp.headers["Content-Disposition"] == f'attachment; filename="Budget_ Q3 _ review.{fmt}"'
        got[fmt] = resp.get_data(as_text=True)
    cues = list(srt.parse(got["srt"]))
    assert cues[0].start.total_seconds() == 0 and "Welcome" in cues[0].content
    assert "Sam" in got["txt"]  # names people gave head the speaker turns of the text export
    vtt = webvtt.from_buffer(__import__("io").StringIO(got["vtt"]))
    assert "warehouse" in " ".join(c.text for c in vtt)
    assert json.loads(got["json"])["segments"][1]["speaker"] == "Sam"
    assert "marketing budget" in got["txt"]
    assert client.get(f"/transcripts/{tid}/download.doc").status_code == 404
    queued = make_transcript(people["alice"][0], status="queued")
    assert client.get(f"/transcripts/{queued}/download.srt").status_code == 409


def test_subtitles_name_the_speakers_when_there_are_several(client, people, make_transcript):
    tid = make_transcript(people["alice"][0], names={"SPEAKER_01": "Sam"})
    cues = list(srt.parse(client.get(f"/transcripts/{tid}/download.srt").get_data(as_text=True)))
    assert cues[0].content.startswith("[SPEAKER_00] Welcome")
    assert any(c.content.startswith("[Sam] Thanks.") for c in cues)
    plain = client.get(f"/transcripts/{tid}/download.srt?speakers=0").get_data(as_text=True)
    assert "[Sam]" not in plain and "Thanks." in plain
    vtt = client.get(f"/transcripts/{tid}/download.vtt").get_data(as_text=True)
    assert "<v Sam>Thanks." in vtt
    txt = client.get(f"/transcripts/{tid}/download.txt?timestamps=1").get_data(as_text=True)
    assert txt.startswith("[00:00:00] SPEAKER_00: Welcome")
    one = make_transcript(people["alice"][0], title="Solo", segments=[("SPEAKER_00", "Only one voice here.")])
    assert "[SPEAKER_00]" not in client.get(f"/transcripts/{one}/download.srt").get_data(as_text=True)


def test_rename_the_title(client, people, make_transcript):
    tid = make_transcript(people["alice"][0])
    form = client.get(f"/transcripts/{tid}/title?edit=1", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert 'name="title"' in form and "autofocus" in form
    resp = post(client, f"/transcripts/{tid}/title", {"title": "  Board   meeting  "}, htmx=True)
    assert "<h1>Board meeting</h1>" in resp.get_data(as_text=True)
    assert post(client, f"/transcripts/{tid}/title", {"title": " "}, htmx=True).status_code == 400
    assert "Board meeting" in client.get("/").get_data(as_text=True)


def test_rename_a_speaker_everywhere(client, people, make_transcript):
    tid = make_transcript(people["alice"][0])
    resp = post(client, f"/transcripts/{tid}/speakers/SPEAKER_00", {"name": "Dana Scully"}, htmx=True)
    assert resp.status_code == 200 and 'value="Dana Scully"' in resp.get_data(as_text=True)
    assert json.loads(resp.headers["HX-Trigger"]) == {"speakerRenamed": {"label": "SPEAKER_00", "name": "Dana Scully"}}
    page = client.get(f"/transcripts/{tid}").get_data(as_text=True)
    assert page.count(">Dana Scully</button>") == 2
    assert "Dana Scully" in client.get(f"/transcripts/{tid}/download.txt").get_data(as_text=True)
    assert json.loads(client.get(f"/transcripts/{tid}/download.json").data)["segments"][0]["speaker"] == "Dana Scully"
    assert post(client, f"/transcripts/{tid}/speakers/NOPE", {"name": "x"}, htmx=True).status_code == 400
    hits = client.get("/search?q=warehouse&speaker=scully").get_data(as_text=True)
    assert "Dana Scully:" in hits


def test_move_a_segment_to_another_or_a_new_speaker(client, people, make_transcript, app):
    from webapp.extensions import db
    from webapp.models import Segment, Word
    tid = make_transcript(people["alice"][0], names={"SPEAKER_01": "Sam"})
    with app.app_context():
        seg_id = db.session.scalars(db.select(Segment.id).where(Segment.transcript_id == tid, Segment.idx == 2)).one()
    menu = client.get(f"/transcripts/{tid}/segments/{seg_id}/speaker", headers={"HX-Request": "true"})
    assert re.search(r'<option value="SPEAKER_01"\s*>Sam</option>', menu.get_data(as_text=True))
    resp = post(client, f"/transcripts/{tid}/segments/{seg_id}/speaker", {"speaker": "SPEAKER_01"}, htmx=True)
    assert resp.status_code == 200 and ">Sam</button>" in resp.get_data(as_text=True)
    assert 'class="segment spk-1"' in resp.get_data(as_text=True)
    resp = post(client, f"/transcripts/{tid}/segments/{seg_id}/speaker", {"speaker": "new", "new_name": "Guest"},
                htmx=True)
    assert ">Guest</button>" in resp.get_data(as_text=True) and resp.headers["HX-Trigger"] == "speakersChanged"
    with app.app_context():
        seg = db.session.get(Segment, seg_id)
        assert seg.speaker == "SPEAKER_02"
        assert {w.speaker for w in db.session.scalars(db.select(Word).where(Word.segment_id == seg_id))} == {"SPEAKER_02"}
    panel = client.get(f"/transcripts/{tid}/speakers").get_data(as_text=True)
    assert 'value="Guest"' in panel
    assert "Guest" in client.get(f"/transcripts/{tid}/download.txt").get_data(as_text=True)
    assert post(client, f"/transcripts/{tid}/segments/{seg_id}/speaker", {"speaker": "ZZZ"}, htmx=True).status_code == 400


def test_correct_a_segment_keeping_word_timings(client, people, make_transcript, app):
    from webapp.extensions import db
    from webapp.models import Segment
    tid = make_transcript(people["alice"][0])
    with app.app_context():
        seg_id = db.session.scalars(db.select(Segment.id).where(Segment.transcript_id == tid, Segment.idx == 1)).one()
    editor = client.get(f"/transcripts/{tid}/segments/{seg_id}/text?edit=1", headers={"HX-Request": "true"})
    assert 'hx-trigger="blur"' in editor.get_data(as_text=True) and "<textarea" in editor.get_data(as_text=True)
    before = words_in(client.get(f"/transcripts/{tid}").get_data(as_text=True))
    # "Thanks. The marketing budget grew by ten percent." -> a word changed, one added, one removed.
    resp = post(client, f"/transcripts/{tid}/segments/{seg_id}/text",
                {"text": "Thanks. The sales budget grew by eleven whole percent."}, htmx=True)
    assert resp.status_code == 200
    after = words_in(resp.get_data(as_text=True))
    old = dict((w, s) for s, w in before)
    assert [w for _, w in after] == "Thanks. The sales budget grew by eleven whole percent.".split()
    for s, w in after:
        if w in ("Thanks.", "The", "budget", "grew", "by", "percent."):
            assert s == old[w], w  # matched words keep their time
    assert after[2][0] == old["marketing"]  # a replaced word takes the time of the word it replaced
    assert [s for s, _ in after] == sorted(s for s, _ in after)
    # Edits reach search and every export.
    assert "sales" in client.get(f"/transcripts/{tid}/download.vtt").get_data(as_text=True)
    assert "eleven whole" in client.get(f"/transcripts/{tid}/download.txt").get_data(as_text=True)
    hits = client.get("/search?q=sales").get_data(as_text=True)
    assert f"/transcripts/{tid}?t=" in hits and "<mark>sales</mark>" in hits
    assert "No transcript says “marketing”" in client.get("/search?q=marketing").get_data(as_text=True)
    assert post(client, f"/transcripts/{tid}/segments/{seg_id}/text", {"text": "   "}, htmx=True).status_code == 400
    # Without htmx and without the token.
    assert client.post(f"/transcripts/{tid}/segments/{seg_id}/text", data={"text": "x"}).status_code == 403
    resp = client.post(f"/transcripts/{tid}/segments/{seg_id}/text", data={"text": "Plain form.", "csrf_token": csrf(client)})
    assert resp.status_code == 302 and resp.headers["Location"].endswith(f"#seg-{seg_id}")


def test_retime_words_unit():
    from types import SimpleNamespace as W

    from webapp.services.edits import retime_words
    old = [W(word="one", start=0.0, end=0.5, score=0.9), W(word="two", start=1.0, end=1.5, score=0.3),
           W(word="three", start=2.0, end=2.5, score=0.9)]
    same = retime_words(old, ["One,", "two", "three."], 0, 3)
    assert [(r["start"], r["end"], r["score"]) for r in same] == [(0.0, 0.5, 0.9), (1.0, 1.5, 0.3), (2.0, 2.5, 0.9)]
    inserted = retime_words(old, ["one", "and", "a", "two", "three"], 0, 3)
    assert [(r["word"], r["start"], r["end"]) for r in inserted][1:3] == [("and", 0.5, 0.75), ("a", 0.75, 1.0)]
    replaced = retime_words(old, ["one", "too", "many", "three"], 0, 3)
    assert [(r["word"], r["start"], r["end"], r["score"]) for r in replaced][1:3] == [
        ("too", 1.0, 1.25, None), ("many", 1.25, 1.5, None)]
    assert [r["word"] for r in retime_words(old, ["three"], 0, 3)] == ["three"]
    tail = retime_words(old, ["one", "two", "three", "four"], 0, 3)
    assert (tail[-1]["start"], tail[-1]["end"]) == (2.5, 3)


def test_edits_need_a_finished_transcript_and_the_owner(client, people, make_transcript, app):
    from webapp.extensions import db
    from webapp.models import Segment
    bobs = make_transcript(people["bob"][0])
    with app.app_context():
        seg_id = db.session.scalars(db.select(Segment.id).where(Segment.transcript_id == bobs)).first()
    assert post(client, f"/transcripts/{bobs}/segments/{seg_id}/text", {"text": "hacked"}, htmx=True).status_code == 404
    assert post(client, f"/transcripts/{bobs}/speakers/SPEAKER_00", {"name": "x"}, htmx=True).status_code == 404
    assert post(client, f"/transcripts/{bobs}/title", {"title": "x"}, htmx=True).status_code == 404
    mine = make_transcript(people["alice"][0])
    assert post(client, f"/transcripts/{mine}/segments/{seg_id}/text", {"text": "x"}, htmx=True).status_code == 404
    # Her own transcript while it is transcribed again (rows still there) or still queued: nothing may be
    # corrected until it is done, and nothing changes.
    with app.app_context():
        from webapp.models import Transcript

        own_seg, own_text = db.session.execute(db.select(Segment.id, Segment.text).where(
            Segment.transcript_id == mine).order_by(Segment.idx)).first()
        db.session.get(Transcript, mine).status = "running"
        db.session.commit()
    for path, form in ((f"segments/{own_seg}/text", {"text": "too early"}), (f"segments/{own_seg}/speaker",
                                                                           {"speaker": "", "new_name": ""})):
        resp = post(client, f"/transcripts/{mine}/{path}", form, htmx=True)
        assert resp.status_code == 409 and "when it is done" in resp.get_data(as_text=True), path
    queued = make_transcript(people["alice"][0], title="Not yet", status="queued")
    assert post(client, f"/transcripts/{queued}/segments/{own_seg}/text", {"text": "x"}, htmx=True).status_code == 409
    with app.app_context():
        assert db.session.get(Segment, own_seg).text == own_text


def test_renaming_a_title_reads_no_words(client, people, make_transcript, app):
    """A rename touches one row: no query of the transcript's segments or words (a long recording has 30,000)."""
    from sqlalchemy import event

    from webapp.extensions import db

    tid = make_transcript(people["alice"][0])
    seen: list[str] = []
    with app.app_context():
        engine = db.engine

    def record(conn, cursor, statement, *args):
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        resp = post(client, f"/transcripts/{tid}/title", {"title": "Renamed"}, htmx=True)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert resp.status_code == 200 and "<h1>Renamed</h1>" in resp.get_data(as_text=True)
    assert any("UPDATE transcripts" in s for s in seen)
    assert not [s for s in seen if "FROM words" in s or "FROM segments" in s]
