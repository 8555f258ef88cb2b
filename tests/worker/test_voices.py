"""Voice profiles end to end: real audio (pyannote's two-speaker sample), the real pipeline and GE2E encoder,
PostgreSQL, Redis, S3 and an RQ worker; everything a user does goes through the API."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from jobhelpers import submit

SPLIT_S = 17.5  # where today's diarizer tells both voices apart in both halves (at 15 s it does not)
FORM = {"diarize": "1", "num_speakers": "2", "model": "tiny.en"}


@pytest.fixture(scope="module")
def sample():
    pyannote_audio = pytest.importorskip("pyannote.audio")
    return Path(pyannote_audio.__file__).parent / "sample"


@pytest.fixture(scope="module")
def halves(sample, tmp_path_factory, ffmpeg):
    out = tmp_path_factory.mktemp("halves")
    first, second = out / "first-half.wav", out / "second-half.wav"
    subprocess.run([ffmpeg, "-nostdin", "-loglevel", "error", "-i", str(sample / "sample.wav"), "-t", str(SPLIT_S),
                    str(first)], check=True)
    subprocess.run([ffmpeg, "-nostdin", "-loglevel", "error", "-ss", str(SPLIT_S), "-i", str(sample / "sample.wav"),
                    str(second)], check=True)
    return first, second


def _reference(sample) -> list[tuple[float, float, str]]:
    rows = []
    for line in (sample / "sample.rttm").read_text().splitlines():
        f = line.split()
        rows.append((float(f[3]), float(f[3]) + float(f[4]), f[7]))
    return rows


def _true_voice(detail: dict, reference, offset: float) -> dict[str, str]:
    """{speaker label: the reference speaker who says most of its words} (labels are shown as names once named,
    so the words' speakers are matched back through the speakers list)."""
    by_name = {s["name"]: s["label"] for s in detail["speakers"]}
    talk: dict[str, dict[str, float]] = {}
    for seg in detail["segments"]:
        for w in seg["words"]:
            label = by_name.get(w["speaker"], w["speaker"])
            mid = offset + (w["start"] + w["end"]) / 2
            for a, b, who in reference:
                if a <= mid <= b:
                    talk.setdefault(label, {}).setdefault(who, 0.0)
                    talk[label][who] += w["end"] - w["start"]
    return {label: max(votes, key=votes.get) for label, votes in talk.items()}


def _get(client, auth, tid) -> dict:
    resp = client.get(f"/api/v1/transcripts/{tid}", headers=auth)
    assert resp.status_code == 200
    return resp.get_json()


def test_enrolled_voices_are_recognised_in_the_next_recording_and_nowhere_else(
        client, user_factory, run_jobs, halves, sample, speech, app):
    _, token = user_factory("maria")
    auth = {"Authorization": f"Bearer {token}"}
    _, other_token = user_factory("otto")
    other = {"Authorization": f"Bearer {other_token}"}
    reference = _reference(sample)
    first, second = halves

    tid1 = submit(client, auth, first, **FORM)
    run_jobs()
    d1 = _get(client, auth, tid1)
    assert d1["status"] == "done", d1["error"]
    assert [s["match"] for s in d1["speakers"]] == [None, None]  # nobody enrolled yet
    truth1 = _true_voice(d1, reference, 0.0)
    names = {"speaker90": "Ann", "speaker91": "Bob"}
    assert sorted(truth1.values()) == ["speaker90", "speaker91"], truth1

    for label, who in truth1.items():  # one by a new name, one through a person made first
        if who == "speaker90":
            resp = client.post(f"/api/v1/transcripts/{tid1}/speakers/{label}/person", json={"name": "Ann"},
                               headers=auth)
        else:
            made = client.post("/api/v1/people", json={"name": "Bob"}, headers=auth).get_json()
            resp = client.post(f"/api/v1/transcripts/{tid1}/speakers/{label}/person",
                               json={"person_id": made["id"]}, headers=auth)
        assert resp.status_code == 200, resp.get_json()
        assert resp.get_json()["match"] == "enrolled" and resp.get_json()["name"] == names[who]
    people = client.get("/api/v1/people", headers=auth).get_json()["items"]
    assert sorted((p["name"], p["voiceprints"]) for p in people) == [("Ann", 1), ("Bob", 1)]

    # another account neither sees these people nor may name a speaker as one of them
    assert client.get("/api/v1/people", headers=other).get_json()["items"] == []
    assert client.delete(f"/api/v1/people/{people[0]['id']}", headers=other).status_code == 404

    tid2 = submit(client, auth, second, **FORM)
    tid_other = submit(client, other, second, **FORM)  # the same voices, in the other account
    never = speech("The quarterly numbers are in and they look better than we feared, so we will hire in the "
                   "spring.", voice="en+m3", name="stranger.wav")
    tid3 = submit(client, auth, never, **FORM)
    run_jobs()

    d2 = _get(client, auth, tid2)
    truth2 = _true_voice(d2, reference, SPLIT_S)
    got = {s["label"]: s for s in d2["speakers"]}
    for label, who in truth2.items():
        assert got[label]["match"] == "recognised", d2["speakers"]
        assert got[label]["name"] == names[who] and got[label]["similarity"] >= 0.85
    assert {seg["speaker"] for seg in d2["segments"]} == {"Ann", "Bob"}

    d_other = _get(client, other, tid_other)
    assert all(s["match"] is None and s["person_id"] is None for s in d_other["speakers"])

    d3 = _get(client, auth, tid3)
    assert all(s["match"] != "recognised" and s["name"] not in ("Ann", "Bob") for s in d3["speakers"])

    # the People page shows where Ann spoke, with her talk time
    ann = next(p for p in people if p["name"] == "Ann")
    seen = client.get(f"/api/v1/people/{ann['id']}", headers=auth).get_json()["appearances"]
    assert {r["transcript_id"] for r in seen} == {tid1, tid2} and all(r["talk_s"] > 1 for r in seen)

    # deleting a person removes their voiceprints; transcripts keep the name as plain text
    assert client.delete(f"/api/v1/people/{ann['id']}", headers=auth).status_code == 204
    with app.app_context():
        from webapp.extensions import db
        from webapp.models import Voiceprint

        assert db.session.query(Voiceprint).filter_by(person_id=ann["id"]).count() == 0
    d2 = _get(client, auth, tid2)
    assert "Ann" in {s["name"] for s in d2["speakers"]}
    assert all(s["person_id"] != ann["id"] for s in d2["speakers"])
    # exports carry names, never voiceprints
    text = client.get(f"/api/v1/transcripts/{tid2}/export.json", headers=auth).get_data(as_text=True)
    assert "Ann" in text and "embedding" not in text


def test_look_back_names_an_earlier_transcript(client, user_factory, run_jobs, halves, app):
    _, token = user_factory("lena")
    auth = {"Authorization": f"Bearer {token}"}
    first, second = halves
    tid_old = submit(client, auth, second, **FORM)  # recorded before anyone was enrolled
    run_jobs()
    tid_new = submit(client, auth, first, **FORM)
    run_jobs()
    assert all(s["match"] is None for s in _get(client, auth, tid_old)["speakers"])
    label = _get(client, auth, tid_new)["speakers"][0]["label"]
    person = client.post(f"/api/v1/transcripts/{tid_new}/speakers/{label}/person", json={"name": "Nina"},
                         headers=auth).get_json()["person_id"]
    resp = client.post("/api/v1/people/look-back", json={"person_id": person}, headers=auth)
    assert resp.status_code == 202
    run_jobs()
    old = _get(client, auth, tid_old)["speakers"]
    named = [s for s in old if s["person_id"] == person]
    assert len(named) == 1 and named[0]["match"] in ("recognised", "suggested"), old
    progress = client.get(f"/api/v1/people/look-back/{resp.get_json()['job_id']}", headers=auth).get_json()
    assert progress["status"] == "finished" and progress["done"] == progress["total"] >= 1
    assert progress["result"]["speakers_named"] >= 1
    _, other = user_factory("mallory")
    assert client.get(f"/api/v1/people/look-back/{resp.get_json()['job_id']}",
                      headers={"Authorization": f"Bearer {other}"}).status_code == 404


def test_retry_keeps_who_the_speakers_are(client, user_factory, run_jobs, halves, app, ffmpeg, tmp_path):
    """Retrying a transcript writes its speakers anew; an enrolled name stays enrolled and a rejected suggestion
    stays rejected (before, the retry re-recognised the enrolled voice and forgot the rejection)."""
    _, token = user_factory("rita")
    auth = {"Authorization": f"Bearer {token}"}
    first, _ = halves
    tid1 = submit(client, auth, first, **FORM)
    run_jobs()
    label = _get(client, auth, tid1)["speakers"][0]["label"]
    person = client.post(f"/api/v1/transcripts/{tid1}/speakers/{label}/person", json={"name": "Cleo"},
                         headers=auth).get_json()["person_id"]
    again_wav = tmp_path / "first-half-again.wav"  # other bytes (an identical upload is the same transcript)
    subprocess.run([ffmpeg, "-nostdin", "-loglevel", "error", "-i", str(first), "-t", "17.3", str(again_wav)],
                   check=True)
    tid2 = submit(client, auth, again_wav, **FORM)  # the same voice again: recognised as Cleo, which is refused
    run_jobs()
    again = {s["label"]: s for s in _get(client, auth, tid2)["speakers"]}
    assert again[label]["person_id"] == person and again[label]["match"] == "recognised", again
    with app.app_context():
        from webapp.extensions import db
        from webapp.models import Transcript
        from webapp.services import people

        people.reject(db.session.get(Transcript, tid2), label)
    for tid in (tid1, tid2):
        assert client.post(f"/api/v1/transcripts/{tid}/retry", headers=auth).status_code in (200, 202)
    run_jobs()

    d1 = _get(client, auth, tid1)
    assert d1["status"] == "done", d1["error"]
    s1 = {s["label"]: s for s in d1["speakers"]}[label]
    assert (s1["person_id"], s1["name"], s1["match"]) == (person, "Cleo", "enrolled")
    d2 = _get(client, auth, tid2)
    s2 = {s["label"]: s for s in d2["speakers"]}[label]
    assert s2["person_id"] is None and s2["match"] is None and s2["name"] != "Cleo", d2["speakers"]
    seen = client.get(f"/api/v1/people/{person}", headers=auth).get_json()["appearances"]
    assert {r["transcript_id"] for r in seen} == {tid1}
