"""The People page, the reader's "Remember this voice as..." and accept / reject, and who may see whose people.
Speakers get fixed embeddings here (the real encoder and audio are in tests/worker/test_voices.py)."""
from __future__ import annotations

import re

import numpy as np
import pytest
from webhelpers import post


def _unit(v):
    v = np.asarray(v, dtype=float)
    return list(v / np.linalg.norm(v))


def _axis(i: int, n: int = 256):
    v = np.zeros(n)
    v[i] = 1.0
    return v


def _near(base, sim: float, other: int):
    """A unit vector with cosine ``sim`` to axis ``base``."""
    return _unit(sim * _axis(base) + np.sqrt(1 - sim ** 2) * _axis(other))


@pytest.fixture
def voiced(app, make_transcript):
    """voiced(owner_id, {label: embedding}, title) -> transcript id, with those embeddings stored."""
    from webapp.extensions import db
    from webapp.models import Speaker

    def make(owner_id: int, embeddings: dict, title: str = "Budget meeting") -> int:
        tid = make_transcript(owner_id, title=title)
        with app.app_context():
            for s in db.session.query(Speaker).filter_by(transcript_id=tid):
                s.embedding = embeddings.get(s.label)
            db.session.commit()
        return tid

    return make


def _recognise(app, tid):
    from webapp.extensions import db
    from webapp.models import Transcript
    from webapp.services import people as people_svc
    from worker.recognise import Thresholds, recognise

    with app.app_context():
        t = db.session.get(Transcript, tid)
        people_svc.match_transcript(t, recognise, Thresholds())
        db.session.commit()


def _speakers(client, token, tid):
    return {s["label"]: s for s in client.get(f"/api/v1/transcripts/{tid}",
                                              headers={"Authorization": f"Bearer {token}"}).get_json()["speakers"]}


def test_remember_a_voice_from_the_reader_then_accept_and_reject_suggestions(client, people, voiced, app):
    alice_id, token = people["alice"]
    first = voiced(alice_id, {"SPEAKER_00": _unit(_axis(0)), "SPEAKER_01": _unit(_axis(1))}, "Monday")
    page = client.get(f"/transcripts/{first}").get_data(as_text=True)
    assert "Remember this voice as…" in page

    resp = post(client, f"/transcripts/{first}/speakers/SPEAKER_00/remember", {"name": "Maria"}, htmx=True)
    assert resp.status_code == 200 and "Maria" in resp.get_data(as_text=True)
    maria = _speakers(client, token, first)["SPEAKER_00"]
    assert maria["match"] == "enrolled" and maria["name"] == "Maria"
    post(client, f"/transcripts/{first}/speakers/SPEAKER_01/remember", {"name": "Jon"}, htmx=True)

    # next week: SPEAKER_00 sounds like Jon (0.95), SPEAKER_01 somewhat like Maria (0.80: a suggestion)
    second = voiced(alice_id, {"SPEAKER_00": _near(1, 0.95, 5), "SPEAKER_01": _near(0, 0.80, 6)}, "Tuesday")
    _recognise(app, second)
    got = _speakers(client, token, second)
    assert got["SPEAKER_00"]["name"] == "Jon" and got["SPEAKER_00"]["match"] == "recognised"
    assert got["SPEAKER_01"]["match"] == "suggested" and got["SPEAKER_01"]["name"] == "SPEAKER_01"
    assert "Maria?" in client.get(f"/transcripts/{second}").get_data(as_text=True)

    post(client, f"/transcripts/{second}/speakers/SPEAKER_01/reject", htmx=True)
    _recognise(app, second)  # a rejection is remembered
    assert _speakers(client, token, second)["SPEAKER_01"]["match"] is None

    third = voiced(alice_id, {"SPEAKER_00": _near(0, 0.80, 7)}, "Wednesday")
    _recognise(app, third)
    post(client, f"/transcripts/{third}/speakers/SPEAKER_00/accept", htmx=True)
    assert _speakers(client, token, third)["SPEAKER_00"]["match"] == "recognised"


def test_one_person_never_names_two_speakers_of_one_transcript(client, people, voiced, app):
    alice_id, token = people["alice"]
    first = voiced(alice_id, {"SPEAKER_00": _unit(_axis(0)), "SPEAKER_01": _unit(_axis(1))})
    post(client, f"/transcripts/{first}/speakers/SPEAKER_00/remember", {"name": "Maria"})
    one = voiced(alice_id, {"SPEAKER_00": _near(0, 0.97, 3), "SPEAKER_01": _near(0, 0.60, 4)}, "One Maria")
    _recognise(app, one)
    got = _speakers(client, token, one)
    assert got["SPEAKER_00"]["name"] == "Maria" and got["SPEAKER_00"]["match"] == "recognised"
    assert got["SPEAKER_01"]["person_id"] is None

    # two voices clear the bar for Maria, one far closer than the other: the closer one is Maria
    clear = voiced(alice_id, {"SPEAKER_00": _near(0, 0.97, 3), "SPEAKER_01": _near(0, 0.87, 4)}, "Maria and a guest")
    _recognise(app, clear)
    got = _speakers(client, token, clear)
    assert got["SPEAKER_00"]["name"] == "Maria" and got["SPEAKER_01"]["person_id"] is None

    # two voices clear the bar for Maria about equally: the bar has not told them apart, so the reader asks about
    # the closer one ("Maria?") and names nobody
    both = voiced(alice_id, {"SPEAKER_00": _near(0, 0.95, 3), "SPEAKER_01": _near(0, 0.93, 4)}, "Two Marias?")
    _recognise(app, both)
    got = _speakers(client, token, both)
    assert got["SPEAKER_00"]["match"] == "suggested" and got["SPEAKER_00"]["name"] == "SPEAKER_00"
    assert got["SPEAKER_01"]["person_id"] is None
    assert "Maria?" in client.get(f"/transcripts/{both}").get_data(as_text=True)


def test_a_voice_as_close_to_two_people_is_asked_about_not_named(client, people, voiced, app):
    alice_id, token = people["alice"]
    first = voiced(alice_id, {"SPEAKER_00": _unit(_axis(0)), "SPEAKER_01": _near(0, 0.5, 1)})  # two alike voices
    post(client, f"/transcripts/{first}/speakers/SPEAKER_00/remember", {"name": "Maria"})
    post(client, f"/transcripts/{first}/speakers/SPEAKER_01/remember", {"name": "Marta"})
    # a voice half-way between them: 0.87 to each, above the bar for both
    vague = voiced(alice_id, {"SPEAKER_00": _unit(1.5 * _axis(0) + np.sqrt(0.75) * _axis(1))}, "Sisters")
    _recognise(app, vague)
    got = _speakers(client, token, vague)["SPEAKER_00"]
    assert got["match"] == "suggested" and got["name"] == "SPEAKER_00" and got["similarity"] >= 0.85


def test_people_page_rename_merge_remove_voiceprint_and_delete(client, people, voiced, app):
    from webapp.extensions import db
    from webapp.models import Person, Voiceprint

    alice_id, token = people["alice"]
    tid = voiced(alice_id, {"SPEAKER_00": _unit(_axis(0)), "SPEAKER_01": _unit(_axis(1))}, "Standup")
    post(client, f"/transcripts/{tid}/speakers/SPEAKER_00/remember", {"name": "Maria"})
    post(client, f"/transcripts/{tid}/speakers/SPEAKER_01/remember", {"name": "Mary"})
    page = client.get("/people").get_data(as_text=True)
    assert "biometric" in page and "never included in exports" in page
    assert "Standup" in page and "Maria" in page
    with app.app_context():
        ids = {p.name: p.id for p in db.session.query(Person).filter_by(owner_id=alice_id)}

    post(client, f"/people/{ids['Maria']}/rename", {"name": "María"})
    assert _speakers(client, token, tid)["SPEAKER_00"]["name"] == "María"
    post(client, f"/people/{ids['Maria']}/merge", {"other_id": str(ids["Mary"])})
    with app.app_context():
        assert db.session.query(Person).filter_by(owner_id=alice_id).count() == 1
        prints = db.session.query(Voiceprint).filter_by(person_id=ids["Maria"]).all()
        assert len(prints) == 2
        first_print = prints[0].id
    post(client, f"/voiceprints/{first_print}/delete")
    with app.app_context():
        assert db.session.query(Voiceprint).filter_by(person_id=ids["Maria"]).count() == 1

    post(client, f"/people/{ids['Maria']}/delete")
    with app.app_context():
        assert db.session.query(Voiceprint).count() == 0 and db.session.get(Person, ids["Maria"]) is None
    spk = _speakers(client, token, tid)
    assert spk["SPEAKER_00"]["name"] == "María" and spk["SPEAKER_00"]["person_id"] is None  # plain text now


def test_people_belong_to_their_account(client, people, voiced, app):
    alice_id, alice_token = people["alice"]
    bob_id, bob_token = people["bob"]
    _, admin_token = people["admin"]
    tid = voiced(alice_id, {"SPEAKER_00": _unit(_axis(0))})
    post(client, f"/transcripts/{tid}/speakers/SPEAKER_00/remember", {"name": "Maria"})
    bob = {"Authorization": f"Bearer {bob_token}"}
    assert client.get("/api/v1/people", headers=bob).get_json()["items"] == []
    maria = client.get("/api/v1/people", headers={"Authorization": f"Bearer {alice_token}"}).get_json()["items"][0]
    assert client.get(f"/api/v1/people/{maria['id']}", headers=bob).status_code == 404
    # bob's own recording of the same voice is not matched against alice's people
    bobs = voiced(bob_id, {"SPEAKER_00": _near(0, 0.99, 9)}, "Bob's call")
    _recognise(app, bobs)
    assert _speakers(client, bob_token, bobs)["SPEAKER_00"]["match"] is None
    # nor may bob name his speaker as alice's person
    resp = client.post(f"/api/v1/transcripts/{bobs}/speakers/SPEAKER_00/person", json={"person_id": maria["id"]},
                       headers=bob)
    assert resp.status_code == 404
    admin = client.get("/api/v1/people", headers={"Authorization": f"Bearer {admin_token}"}).get_json()["items"]
    assert [p["name"] for p in admin] == ["Maria"]


def test_api_rejects_a_nameless_person(client, people):
    _, token = people["alice"]
    resp = client.post("/api/v1/people", json={"name": "  "}, headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 400 and "name" in resp.get_json()["error"]


def test_search_filters_by_person(client, people, voiced):
    alice_id, token = people["alice"]
    tid = voiced(alice_id, {"SPEAKER_00": _unit(_axis(0)), "SPEAKER_01": _unit(_axis(1))})
    post(client, f"/transcripts/{tid}/speakers/SPEAKER_01/remember", {"name": "Jon"})
    auth = {"Authorization": f"Bearer {token}"}
    jon = client.get("/api/v1/people", headers=auth).get_json()["items"][0]["id"]
    hits = client.get(f"/api/v1/search?q=budget&person={jon}", headers=auth).get_json()["hits"]
    assert hits and all(h["speaker"] in ("Jon", "SPEAKER_01") for h in hits) and len(hits) == 1
    everyone = client.get("/api/v1/search?q=budget", headers=auth).get_json()["hits"]
    assert len(everyone) > len(hits)
    # in the pages: the People page links to what Jon said, and the search form keeps Jon chosen
    people_page = client.get("/people").get_data(as_text=True)
    assert f'href="/search?person={jon}"' in people_page
    page = client.get(f"/search?q=budget&person={jon}").get_data(as_text=True)
    assert re.search(rf'<option value="{jon}" selected>Jon</option>', page)
    assert page.count('<li class="hit">') == 1  # only what Jon said


def test_an_editor_of_a_shared_transcript_cannot_enrol_the_owners_voices(client, people, voiced):
    alice_id, alice_token = people["alice"]
    _, bob_token = people["bob"]
    tid = voiced(alice_id, {"SPEAKER_00": _unit(_axis(0))})
    alice = {"Authorization": f"Bearer {alice_token}"}
    assert client.post(f"/api/v1/transcripts/{tid}/shares", json={"user": "bob", "role": "editor"},
                       headers=alice).status_code in (200, 201)
    bob = {"Authorization": f"Bearer {bob_token}"}
    resp = client.post(f"/api/v1/transcripts/{tid}/speakers/SPEAKER_00/person", json={"name": "Maria"}, headers=bob)
    assert resp.status_code == 404
    assert client.get("/api/v1/people", headers=alice).get_json()["items"] == []
    from webhelpers import login

    client.post("/logout", headers={"X-CSRF-Token": "test-csrf-token"})
    assert login(client, "bob", "bob-password").status_code == 302
    page = client.get(f"/transcripts/{tid}").get_data(as_text=True)
    assert "Rename" in page and "Remember this voice as…" not in page


def test_find_a_person_in_earlier_recordings_from_the_page(client, people, voiced, run_jobs):
    alice_id, token = people["alice"]
    old = voiced(alice_id, {"SPEAKER_00": _near(0, 0.95, 3)}, "Last year")
    new = voiced(alice_id, {"SPEAKER_00": _unit(_axis(0))}, "Today")
    post(client, f"/transcripts/{new}/speakers/SPEAKER_00/remember", {"name": "Maria"})
    reader = client.get(f"/transcripts/{new}").get_data(as_text=True)
    assert "Find Maria in earlier recordings" in reader
    maria = client.get("/api/v1/people", headers={"Authorization": f"Bearer {token}"}).get_json()["items"][0]["id"]
    resp = post(client, f"/people/{maria}/look-back")
    assert resp.status_code == 302 and "look_back=" in resp.location
    page = client.get(resp.location).get_data(as_text=True)
    assert "Looking through earlier recordings" in page
    run_jobs()
    job_id = resp.location.split("look_back=")[1]
    done = client.get(f"/people/look-back/{job_id}")
    assert done.status_code == 286 and "speakers named or suggested" in done.get_data(as_text=True)
    assert _speakers(client, token, old)["SPEAKER_00"]["name"] == "Maria"


def test_a_retry_that_gives_the_label_to_another_voice_drops_the_persons_name(client, people, voiced, app):
    """A retry with other options can give SPEAKER_00 to another voice: the person's name must not follow the
    label onto it (it did: the link was dropped, the display name kept)."""
    from webapp.extensions import db
    from webapp.models import Transcript
    from worker.result import Segment, TranscriptResult, Word
    from worker.tasks import write_result

    alice_id, token = people["alice"]
    tid = voiced(alice_id, {"SPEAKER_00": _unit(_axis(0)), "SPEAKER_01": _unit(_axis(1))})
    post(client, f"/transcripts/{tid}/speakers/SPEAKER_00/remember", {"name": "Maria"})
    assert _speakers(client, token, tid)["SPEAKER_00"]["name"] == "Maria"

    def retried(voice_of_speaker_00):
        segs = [Segment(start=i, end=i + 0.8, text="hello there", speaker=lab,
                        words=[Word(word="hello", start=i, end=i + 0.35, speaker=lab, score=0.9),
                               Word(word="there", start=i + 0.4, end=i + 0.75, speaker=lab, score=0.9)])
                for i, lab in enumerate(["SPEAKER_00", "SPEAKER_01"])]
        return TranscriptResult(language="en", duration=2.0, segments=segs, model="tiny.en", word_timing="whisper",
                                speakers=["SPEAKER_00", "SPEAKER_01"],
                                speaker_embeddings={"SPEAKER_00": voice_of_speaker_00, "SPEAKER_01": _unit(_axis(1))})

    for voice, name in ((_near(0, 0.97, 3), "Maria"), (_unit(_axis(2)), "SPEAKER_00")):  # same voice, then another
        with app.app_context():
            write_result(db.session.get(Transcript, tid), retried(voice), elapsed=0.0)
            db.session.commit()
        got = _speakers(client, token, tid)["SPEAKER_00"]
        assert got["name"] == name, got
        assert (got["person_id"] is not None) == (name == "Maria")
