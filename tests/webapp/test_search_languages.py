"""Search that knows the language (issue 14): each segment is stemmed in its own language, a German word finds
its German inflections and an English word its English ones, Chinese and Japanese are found by two characters;
per-segment languages in the JSON and the reader (a marker where the language changes, dir="rtl", and a low
confidence said so). Transcripts are made in the database by the worker's own writer (make_transcript)."""
from __future__ import annotations

from sqlalchemy import update


def hits(client, q: str, token: str) -> list[dict]:
    resp = client.get("/api/v1/search", query_string={"q": q}, headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()["hits"]


def titles(client, q, token) -> list[str]:
    return sorted(h["title"] for h in hits(client, q, token))


def test_each_language_is_found_by_its_own_inflections(client, people, make_transcript):
    alice, token = people["alice"]
    make_transcript(alice, title="Stadtrat", language="de",
                    segments=[("SPEAKER_00", "Die alten Häuser am Markt werden renoviert.")])
    make_transcript(alice, title="Council", language="en",
                    segments=[("SPEAKER_00", "The old houses by the market are being renovated.")])
    assert titles(client, "Haus", token) == ["Stadtrat"]  # German stemming: Häuser -> haus
    assert titles(client, "Häusern", token) == ["Stadtrat"]
    assert titles(client, "house", token) == ["Council"]  # English stemming: houses -> hous
    assert titles(client, "renovating", token) == ["Council"]
    assert titles(client, "renoviert", token) == ["Stadtrat"]
    # a minus means what it says in each language: the German segment is excluded by its own word
    assert titles(client, "Häuser -Markt", token) == []
    assert titles(client, "-Markt", token) == []  # only an exclusion: nothing to look for, not every other segment
    hit = hits(client, "Haus", token)[0]
    assert hit["language"] == "de" and "<mark>Häuser</mark>" in hit["snippet"]


def test_chinese_and_japanese_are_found_by_two_characters(client, people, make_transcript):
    alice, token = people["alice"]
    make_transcript(alice, title="北京", language="zh", segments=[("SPEAKER_00", "今天天气很好，我们去公园散步。")])
    make_transcript(alice, title="東京", language="ja", segments=[("SPEAKER_00", "明日の会議は東京で行います。")])
    make_transcript(alice, title="Mixed", language="en", segments=[("SPEAKER_00", "We met in 東京 last spring.")])
    assert titles(client, "公园", token) == ["北京"]
    assert titles(client, "天气", token) == ["北京"]
    assert titles(client, "天好", token) == []  # both characters are there, but not together
    assert titles(client, "会議", token) == ["東京"]
    assert titles(client, "東京", token) == ["Mixed", "東京"]
    assert titles(client, "会議 -東京", token) == []
    hit = hits(client, "公园", token)[0]
    assert "<mark>公</mark><mark>园</mark>" in hit["snippet"] or "<mark>公园</mark>" in hit["snippet"]
    assert "公园散步" in hit["snippet"].replace("<mark>", "").replace("</mark>", "")  # no spaces put in


def test_segments_carry_their_language_in_json_and_reader(app, client, people, make_transcript):
    from webapp.extensions import db
    from webapp.models import Segment, Transcript

    alice, token = people["alice"]
    tid = make_transcript(alice, title="Mixed", language="en", segments=[
        ("SPEAKER_00", "Welcome everyone to the meeting."),
        ("SPEAKER_01", "Die alten Häuser werden renoviert."),
        ("SPEAKER_00", "مرحبا بكم في الاجتماع")])
    with app.app_context():
        db.session.execute(update(Segment).where(Segment.transcript_id == tid, Segment.idx == 1)
                           .values(language="de", language_probability=0.91))
        db.session.execute(update(Segment).where(Segment.transcript_id == tid, Segment.idx == 2)
                           .values(language="ar", language_probability=0.88))
        db.session.execute(update(Transcript).where(Transcript.id == tid).values(language_probability=0.35))
        db.session.commit()
    data = client.get(f"/api/v1/transcripts/{tid}", headers={"Authorization": f"Bearer {token}"}).get_json()
    assert [s["language"] for s in data["segments"]] == ["en", "de", "ar"]
    assert data["segments"][1]["language_probability"] == 0.91
    assert data["language_uncertain"] is True
    # the JSON download carries them too, for the page and the API alike
    for url in (f"/api/v1/transcripts/{tid}/export.json", f"/transcripts/{tid}/download.json"):
        doc = client.get(url, headers={"Authorization": f"Bearer {token}"}).get_json()
        assert [(s["language"], s["language_probability"]) for s in doc["segments"]] == \
            [("en", None), ("de", 0.91), ("ar", 0.88)], url
    # the index follows the segment's language: the German segment is now stemmed as German
    assert titles(client, "Haus", token) == ["Mixed"]
    # the language filter picks segments by their own language: the German passage of an English meeting
    by_lang = lambda lang: client.get("/api/v1/search", query_string={"q": "renoviert", "language": lang},  # noqa: E731
                                      headers={"Authorization": f"Bearer {token}"}).get_json()["hits"]
    assert [h["language"] for h in by_lang("de")] == ["de"] and by_lang("en") == []

    page = client.get(f"/transcripts/{tid}").get_data(as_text=True)
    assert page.count('class="lang-mark"') == 2  # where the language is not the transcript's
    assert 'lang="de"' in page and 'dir="rtl"' in page and page.count('dir="rtl"') == 1
    assert "low confidence (35%)" in page


def test_a_confident_or_given_language_is_not_flagged(client, people, make_transcript):
    tid = make_transcript(people["alice"][0], language="en")  # given: no probability
    page = client.get(f"/transcripts/{tid}").get_data(as_text=True)
    assert "low confidence" not in page and 'class="lang-mark"' not in page


def test_a_new_language_is_searched_as_soon_as_it_arrives(client, people, make_transcript):
    alice, token = people["alice"]
    make_transcript(alice, title="Council", language="en",
                    segments=[("SPEAKER_00", "The old houses by the market are being renovated.")])
    assert titles(client, "Häusern", token) == []
    # the first German transcript: its language is read into every query from now on, no restart, no cache
    make_transcript(alice, title="Stadtrat", language="de",
                    segments=[("SPEAKER_00", "Die alten Häuser am Markt werden renoviert.")])
    assert titles(client, "Häusern", token) == ["Stadtrat"]


def test_other_languages_never_crowd_out_the_hits(client, people, make_transcript, monkeypatch):
    """The German reading of "campen" is "camp", an English word: English segments must not use up the cap on
    candidates before the German one is reached."""
    from webapp.services import search

    monkeypatch.setattr(search, "CANDIDATES", 3)
    alice, token = people["alice"]
    for n in range(5):
        make_transcript(alice, title=f"Trip {n}", language="en",
                        segments=[("SPEAKER_00", f"We camp by the lake on day {n}.")])
    make_transcript(alice, title="Ausflug", language="de",
                    segments=[("SPEAKER_00", "Im Sommer campen wir am See.")])
    assert titles(client, "campen", token) == ["Ausflug"]
    assert len(titles(client, "camping", token)) == 3  # the English reading: capped at 3 of the 5
