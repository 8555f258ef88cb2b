"""Long recordings split into parts (issue 11), with real worker processes, a real queue and real storage.

CHUNK_MINUTES is 0.25 in the workers here, so a ~65 s two-voice recording makes as many parts as it has 30 s
chunks of speech (a part is never shorter than one of the chunks the single job decodes): three."""
import json
import os
import signal
import subprocess
import sys
import time
import wave

import numpy as np
import pytest
from sqlalchemy import func, select

from jobhelpers import submit
from webapp.extensions import db
from webapp.models import Segment, Transcript, TranscriptPart, Word

SENTENCES = [  # (voice, sentence): two voices Resemblyzer tells apart, alternating so every part has both
    ("en-us", "The harbour master counted eleven ships before the storm arrived in the evening."),
    ("en+f3", "My grandmother planted tomatoes, beans and sunflowers behind the old stone barn."),
    ("en-us", "Engineers inspected the railway bridge and found the bolts were badly rusted."),
    ("en+f3", "Our choir practised the winter concert every Thursday in the village hall."),
    ("en-us", "The museum bought a painting of a lighthouse from a collector in Lisbon."),
    ("en+f3", "Students borrowed telescopes to watch the comet from the football field."),
    ("en-us", "A baker opened a shop on the corner that sells bread made with rye flour."),
    ("en+f3", "The council agreed to repair the library roof before the autumn rains."),
    ("en-us", "Fishermen mended their nets on the quay while the gulls circled overhead."),
    ("en+f3", "Please remember that the swimming pool closes early on public holidays."),
    ("en-us", "The orchestra tuned their violins while the audience found their seats."),
    ("en+f3", "Volunteers cleaned the beach and collected three bags of plastic bottles."),
]
GAP_S = 0.7
WORKER_ENV = {"CHUNK_MINUTES": "0.25", "JOB_STALE_AFTER": "4", "WORKER_THREADS": "1", "JOB_ATTEMPTS": "3"}


@pytest.fixture(scope="module")
def long_clip(speech, scratch_dir):
    """~60 s of alternating voices, and the (start, end, voice) of every sentence."""
    from worker.audio import SAMPLE_RATE, load_audio

    pieces, spans, t = [], [], 0.0
    gap = np.zeros(int(GAP_S * SAMPLE_RATE), dtype=np.float32)
    for i, (voice, text) in enumerate(SENTENCES):
        samples = load_audio(speech(text, voice, name=f"parts-{i}.wav"))
        spans.append((t, t + len(samples) / SAMPLE_RATE, voice))
        pieces += [samples, gap]
        t += (len(samples) + len(gap)) / SAMPLE_RATE
    path = scratch_dir / "parts-long.wav"
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1), out.setsampwidth(2), out.setframerate(SAMPLE_RATE)
        out.writeframes((np.concatenate(pieces) * 32767).astype("<i2").tobytes())
    assert 50 < t < 80
    return path, spans


def _start_worker(test_env, scratch_dir, name):
    env = dict(os.environ, **test_env, **WORKER_ENV, PYTHONUNBUFFERED="1")
    log = open(scratch_dir / f"parts-{name}.log", "w")
    return subprocess.Popen([sys.executable, "-m", "scriptorium.cli", "worker"], env=env, stdout=log,
                            stderr=subprocess.STDOUT)


@pytest.fixture(scope="module")
def _pool(test_env, scratch_dir):
    """Two worker processes for the whole module (each loads its models once); a test that kills one gets it
    replaced before the next test."""
    procs: list[subprocess.Popen] = []
    yield procs
    for p in procs:
        if p.poll() is None:
            p.terminate()
    for p in procs:
        p.wait(30)


@pytest.fixture
def workers(_pool, test_env, scratch_dir):
    for i in range(2):
        if len(_pool) <= i:
            _pool.append(_start_worker(test_env, scratch_dir, f"w{i}"))
        elif _pool[i].poll() is not None:
            _pool[i] = _start_worker(test_env, scratch_dir, f"w{i}-{_pool[i].pid}")
    for p in _pool:  # none left stopped by a test that failed half-way
        os.kill(p.pid, signal.SIGCONT)
    return _pool


def _wait(what, condition, timeout):
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)
    return value


def _status(app, tid):
    with app.app_context():
        t = db.session.get(Transcript, tid)
        return None if t is None else t.status


def _parts(app, tid):
    with app.app_context():
        return [dict(idx=p.idx, start=p.start, end=p.end, status=p.status, attempts=p.attempts, worker=p.worker)
                for p in db.session.scalars(select(TranscriptPart).where(TranscriptPart.transcript_id == tid)
                                            .order_by(TranscriptPart.idx))]


def _done(app, tid, timeout=300):
    status = _wait(f"transcript {tid} to finish",
                   lambda: (s := _status(app, tid)) not in ("queued", "running") and s, timeout)
    assert status == "done", (status, _parts(app, tid))


def _merged_words(app, tid):
    with app.app_context():
        return [(w.word, w.start, w.end, w.speaker) for w in db.session.scalars(
            select(Word).where(Word.transcript_id == tid).order_by(Word.start, Word.id))]


def test_long_recording_is_split_done_by_two_workers_and_merged(app, client, auth, long_clip, workers, speech):
    path, spans = long_clip
    tid = submit(client, auth, path, diarize="true", num_speakers="2")
    short = submit(client, auth, speech(SENTENCES[0][1], SENTENCES[0][0]))  # ~5 s: the single-job path
    _done(app, tid)
    _done(app, short)

    parts = _parts(app, tid)
    assert len(parts) >= 3 and all(p["status"] == "done" for p in parts)
    assert len({p["worker"] for p in parts}) == 2  # both workers took parts
    assert parts[0]["start"] == 0 and all(a["end"] == b["start"] for a, b in zip(parts, parts[1:]))
    body = client.get(f"/api/v1/transcripts/{tid}", headers=auth).get_json()
    assert body["parts"] == {"total": len(parts), "done": len(parts), "running": 0} and body["progress"] == 100
    assert _parts(app, short) == []
    assert client.get(f"/api/v1/transcripts/{short}", headers=auth).get_json()["parts"]["total"] == 0

    # Seams: the single job of the same file, with the workers' thread settings (the count of threads alone
    # changes a word or two of tiny.en's int8 decoding), in a process of its own.
    ref_words = _single_job_words(path)
    for p in parts[1:]:  # every cut lies in a pause, never inside a word of the single-job transcript
        inside = [w for w, a, b in ref_words if a + 0.05 < p["start"] < b - 0.05]
        assert not inside, (p, inside)
    merged = _merged_words(app, tid)
    for p in parts[1:]:
        near_ref = [w for w, a, b in ref_words if abs((a + b) / 2 - p["start"]) <= 2.5]
        near_merged = [word for word, s, e, _ in merged if abs((s + e) / 2 - p["start"]) <= 2.5]
        assert len(near_merged) == len(near_ref), (p["start"], " ".join(near_ref), " ".join(near_merged))
    assert all(a[2] <= b[1] + 0.05 for a, b in zip(merged, merged[1:]))  # in order, none overlapping
    # Each part decodes exactly the single job's 30 s chunks (the plan cuts between them and hands each part the
    # whole recording's VAD segments), so the merged words are the single job's words.
    assert [word for word, *_ in merged] == [w for w, *_ in ref_words]

    # Speakers: one label per voice across all parts.
    labels = {}
    for start, end, voice in spans:
        said = [spk for _, s, e, spk in merged if start - 0.2 <= (s + e) / 2 <= end + 0.2]
        if said:  # tiny.en may drop a sentence (seen: the last one of a part); the rest say who spoke
            labels.setdefault(voice, []).append(max(set(said), key=said.count))
    assert sum(map(len, labels.values())) >= len(SENTENCES) - 2
    assert all(len(set(v)) == 1 for v in labels.values()), labels
    assert labels["en-us"][0] != labels["en+f3"][0]


def _single_job_words(path):
    """(word, start, end) of the single-job transcript of ``path``, made as a worker with WORKER_THREADS=1."""
    code = ("import json, sys; from worker import pipeline; from worker.result import Options; "
            "r = pipeline.transcribe(sys.argv[1], Options(model='tiny.en'), device='cpu', cpu_threads=1); "
            "print(json.dumps([(w.word, w.start, w.end) for s in r.segments for w in s.words]))")
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    out = subprocess.run([sys.executable, "-c", code, str(path)], env=env, capture_output=True, text=True,
                         check=True, timeout=300).stdout
    return [tuple(w) for w in json.loads(out.strip().splitlines()[-1])]


def test_killed_worker_reruns_only_its_part_and_cancel_stops_every_part(app, client, auth, long_clip, workers, speech):
    path, _ = long_clip
    tid = submit(client, auth, path, diarize="true", num_speakers="2")
    victim = workers[0]
    running = _wait("a part running on the first worker", lambda: next(
        (p for p in _parts(app, tid) if p["status"] == "running" and p["worker"].endswith(f":{victim.pid}")), None),
        120)
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait(10)
    _done(app, tid)
    attempts = {p["idx"]: p["attempts"] for p in _parts(app, tid)}
    assert attempts[running["idx"]] == 2, attempts  # re-run once, by the other worker
    assert sorted(attempts.values()) == [1] * (len(attempts) - 1) + [2], attempts  # and no other part ran twice

    # Cancel: every part stops (queued ones never start, running ones let go) and nothing is stored.
    again = submit(client, auth, path, diarize="true", language="en")
    _wait("a running part", lambda: any(p["status"] == "running" for p in _parts(app, again)), 120)
    resp = client.post(f"/api/v1/transcripts/{again}/cancel", headers=auth)
    assert resp.status_code == 200 and resp.get_json()["status"] == "cancelled"
    _wait("every part to stop", lambda: all(p["status"] == "cancelled" for p in _parts(app, again)), 15)
    nxt = submit(client, auth, speech(SENTENCES[1][1], SENTENCES[1][0]))
    _done(app, nxt, 120)
    assert all(p["status"] == "cancelled" for p in _parts(app, again))
    assert _status(app, again) == "cancelled"
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Segment).where(Segment.transcript_id == again)) == 0


def test_stitch_gives_one_label_per_voice_across_parts():
    """Pure: part 0 calls the voices A=SPEAKER_00, B=SPEAKER_01, part 1 the other way round; the merge follows
    the voiceprints, not the parts' labels, and numbers people by first appearance."""
    from worker.parts import stitch
    from worker.result import Options

    a, b = [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]

    def part(t0, first, second, prints):
        segs = [{"start": t0 + i, "end": t0 + i + 0.5, "text": w, "speaker": spk,
                 "words": [{"word": w, "start": t0 + i, "end": t0 + i + 0.5, "score": 0.9, "speaker": spk}]}
                for i, (w, spk) in enumerate([("one", first), ("two", second)])]
        return {"segments": segs, "voiceprints": prints, "language": "en", "duration": 10.0, "model": "m",
                "language_probability": None, "word_timing": "whisper", "diarization": "resemblyzer"}

    result = stitch([part(0, "SPEAKER_00", "SPEAKER_01", {"SPEAKER_00": a, "SPEAKER_01": b}),
                     part(10, "SPEAKER_00", "SPEAKER_01", {"SPEAKER_00": b, "SPEAKER_01": a})], Options())
    assert [(s.text, s.speaker) for s in result.segments] == [
        ("one", "SPEAKER_00"), ("two", "SPEAKER_01"), ("one", "SPEAKER_01"), ("two", "SPEAKER_00")]
    assert [w.speaker for s in result.segments for w in s.words] == [s.speaker for s in result.segments]
    assert result.speakers == ["SPEAKER_00", "SPEAKER_01"] and result.duration == 20.0


def test_worker_threads_share_the_cores_and_chunk_minutes_is_checked():
    from scriptorium.supervisor import worker_threads
    from webapp import settings as settings_mod

    assert [worker_threads(n, cores=8) for n in (1, 2, 3, 8, 16)] == [8, 4, 2, 1, 1]
    with pytest.raises(settings_mod.SettingsError, match="CHUNK_MINUTES"):
        settings_mod.load({"CHUNK_MINUTES": "soon"}, services=False)
    assert settings_mod.load({"CHUNK_MINUTES": "0.5"}, services=False).chunk_minutes == 0.5


def _part_rows(app, tid):
    with app.app_context():
        return {p.idx: (p.status, p.attempts, p.rq_job_id, p.worker) for p in db.session.scalars(
            select(TranscriptPart).where(TranscriptPart.transcript_id == tid))}


def test_retry_runs_only_the_parts_that_did_not_finish(app, client, auth, long_clip, workers):
    """A part fails for good (its span cannot be read: the stored recording vanished); the transcript fails with
    the part's reason. Retry (the recording back in place) runs only the parts that had not finished: the finished
    ones keep their results, their job and their single attempt."""
    path, _ = long_clip
    tid = submit(client, auth, path, language="en")
    with app.app_context():
        key = db.session.get(Transcript, tid).media.storage_key
    # One worker at a time, so that a part is still waiting when the recording vanishes (two free workers can
    # read every span before the delete lands, and the transcript then simply finishes). Only once the split has
    # put every part on the queue: a worker paused in the middle of the split leaves the rest nothing to take.
    _wait("every part on the queue", lambda: _all_enqueued(app, tid), 120)
    os.kill(workers[1].pid, signal.SIGSTOP)
    try:
        _wait("a finished part", lambda: any(p["status"] == "done" for p in _parts(app, tid)), 120)
        os.kill(workers[0].pid, signal.SIGSTOP)
        _delete(app, key)
    finally:
        for p in workers:
            os.kill(p.pid, signal.SIGCONT)
    status = _wait("the transcript to fail", lambda: (s := _status(app, tid)) not in ("queued", "running") and s, 120)
    assert status == "failed"
    with app.app_context():
        error = db.session.get(Transcript, tid).error
    # the recording vanished before the part opened it, or while ffmpeg was reading it: either way the part's reason
    assert error.startswith("part ") and ("could not read" in error or "truncated or corrupt" in error), error
    before = _part_rows(app, tid)
    kept = {i for i, row in before.items() if row[0] == "done"}
    assert kept and len(kept) < len(before), before

    _put(app, key, path)
    assert client.post(f"/api/v1/transcripts/{tid}/retry", headers=auth).status_code == 202
    _done(app, tid)
    after = _part_rows(app, tid)
    assert {i: after[i] for i in kept} == {i: before[i] for i in kept}  # not run again: same job, one attempt
    assert all(after[i][0] == "done" and after[i][2] != before[i][2] for i in after if i not in kept)
    merged = _merged_words(app, tid)
    for p in _parts(app, tid):  # every part's words are in the transcript, the kept ones' included
        assert any(p["start"] <= (s + e) / 2 < p["end"] for _, s, e, _ in merged), p


def _all_enqueued(app, tid) -> bool:
    """The split is over: the transcript has parts, and each queued one has its RQ job in Redis."""
    from rq.job import Job

    from webapp import queue

    with app.app_context():
        rows = db.session.scalars(select(TranscriptPart).where(TranscriptPart.transcript_id == tid)).all()
        done = bool(rows) and all(r.status != "queued" or (r.rq_job_id and Job.exists(r.rq_job_id,
                                                                                      connection=queue.connection()))
                                  for r in rows)
        db.session.remove()
    return done


def _delete(app, key):
    from webapp.storage import from_settings

    with app.app_context():
        from_settings(app.config["SCRIPTORIUM"]).delete(key)


def _put(app, key, path):
    from webapp.storage import from_settings

    with app.app_context():
        from_settings(app.config["SCRIPTORIUM"]).put_file(key, path)


def test_reaper_requeues_an_orphaned_part_reenqueues_a_lost_one_and_a_lost_merge(app, client, auth, long_clip,
                                                                                 workers, speech):
    """With the workers paused (SIGSTOP) right after the split: one unfinished part is made to look taken by a
    worker that died (running, no heartbeat), a queued one loses its RQ job (Redis lost it); a second transcript has every
    part done but no merge job. The workers' own reapers put all three right: the orphaned part runs again,
    counted as its second attempt; the lost part is enqueued again (one attempt); the merge is enqueued and runs."""
    from datetime import datetime, timedelta, timezone

    from rq.job import Job
    from sqlalchemy import text as sql
    from sqlalchemy import update

    from webapp import queue
    from webapp.services.parts import PARTS_WORKER
    from webapp.services.submit import submit_media

    path, _ = long_clip
    tid = submit(client, auth, path, language="en")
    _wait("every part on the queue, one still waiting", lambda: _all_enqueued(app, tid) and any(
        p["status"] == "queued" for p in _parts(app, tid)), 120)
    stopped = False
    try:
        old = datetime.now(timezone.utc) - timedelta(minutes=5)
        with app.app_context():
            # Lock the parts first, then pause the workers: a worker paused inside its own short transaction on a
            # part (its heartbeat) would hold that row's lock, and the edits below would wait for it for ever.
            db.session.execute(sql("SET LOCAL lock_timeout = '30s'"))
            rows = {p.idx: p for p in db.session.scalars(select(TranscriptPart).where(
                TranscriptPart.transcript_id == tid).with_for_update())}
            for p in workers:
                os.kill(p.pid, signal.SIGSTOP)
            stopped = True
            queued = [i for i, r in sorted(rows.items()) if r.status == "queued"]
            assert queued, {i: r.status for i, r in rows.items()}  # three parts, two workers: one still waits
            lost = queued[-1]
            orphan = [i for i, r in sorted(rows.items()) if r.status != "done" and i != lost][0]  # queued or running
            rows[orphan].status, rows[orphan].worker, rows[orphan].attempts = "running", "gone-host:1", 1
            rows[orphan].updated_at = old
            # gone from Redis (when the split was paused before enqueueing it, it is not there yet either)
            if Job.exists(rows[lost].rq_job_id, connection=queue.connection()):
                Job.fetch(rows[lost].rq_job_id, connection=queue.connection()).delete()
            rows[lost].updated_at = old
            db.session.commit()

            # the second transcript: both parts done, the merge never enqueued (or lost by Redis)
            owner = db.session.get(Transcript, tid).owner
            with open(speech(SENTENCES[2][1], SENTENCES[2][0]), "rb") as fh:
                merged_tid = submit_media(fh, "merge.wav", "upload", {"language": "en"}, owner=owner).transcript.id
            t = db.session.get(Transcript, merged_tid)
            Job.fetch(t.rq_job_id, connection=queue.connection()).delete()
            t.status, t.worker, t.stage, t.rq_job_id = "running", PARTS_WORKER, "store", "lost-merge-job"
            t.started_at = old
            for i, text in enumerate(["first half", "second half"]):
                a, b = 2.0 * i, 2.0 * i + 1.5
                words = [{"word": w, "start": a + 0.5 * k, "end": a + 0.5 * k + 0.4, "score": 0.9, "speaker": None}
                         for k, w in enumerate(text.split())]
                db.session.add(TranscriptPart(
                    transcript_id=merged_tid, idx=i, start=2.0 * i, end=2.0 * i + 2.0, status="done", attempts=1,
                    progress=100, result={"segments": [{"start": a, "end": b, "text": text, "speaker": None,
                                                         "words": words}],
                                          "language": "en", "duration": 2.0, "model": "tiny.en",
                                          "language_probability": None, "word_timing": "whisper",
                                          "diarization": None, "voiceprints": {}}))
            db.session.flush()
            db.session.execute(update(Transcript).where(Transcript.id == merged_tid).values(updated_at=old))
            db.session.commit()
    finally:
        if stopped:
            for p in workers:
                os.kill(p.pid, signal.SIGCONT)
    _done(app, tid)
    rows = _part_rows(app, tid)
    assert rows[orphan][:2] == ("done", 2), rows  # re-run, counted as an attempt
    assert rows[lost][:2] == ("done", 1), rows  # enqueued again
    assert all(r[0] == "done" for r in rows.values())
    _done(app, merged_tid, 60)
    assert [w for w, *_ in _merged_words(app, merged_tid)] == ["first", "half", "second", "half"]


def test_the_split_uses_the_single_jobs_vad_and_cuts_between_its_chunks(long_clip):
    """The VAD run block by block over the whole recording gives faster-whisper's own whole-file segments, and
    every part starts where one of the single job's 30 s chunks starts, in the pause before it."""
    from faster_whisper.vad import get_speech_timestamps

    from worker import audio
    from worker.parts import plan

    path, _ = long_clip
    samples = audio.load_audio(path)
    probs, total = audio.speech_probabilities(str(path))
    speech = audio.speech_from_probabilities(probs, total)
    assert total == len(samples)
    assert speech == get_speech_timestamps(samples, audio._vad_options())
    chunks = audio.whisper_chunks(speech)
    parts = plan(str(path), total / audio.SAMPLE_RATE, 15.0)
    # a part is at least one of the single job's chunks (30 s of speech), whatever CHUNK_MINUTES asks
    assert len(parts) == len(chunks) >= 3 and parts[0][0] == 0 and parts[-1][1] == total / audio.SAMPLE_RATE
    starts = {c[0]["start"]: before[-1]["end"] for before, c in zip(chunks, chunks[1:])}
    for (_, _, prev), (start, _, speech_in) in zip(parts, parts[1:]):
        first = speech_in[0][0]
        assert first in starts and starts[first] <= start * audio.SAMPLE_RATE <= first  # in the pause before it
        assert prev[-1][1] == starts[first]
    assert [seg for *_, sp in parts for seg in sp] == [[s["start"], s["end"]] for s in speech]
