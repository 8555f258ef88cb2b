"""The watched folder with the real observer (inotify) on a temporary directory."""
from __future__ import annotations

import logging
import os
import shutil
import time

from sqlalchemy import select

from tests.ingest.conftest import make_wav, wait_for
from webapp.models import IngestRecord, Media, Transcript


def _write_slowly(path, data: bytes, chunks: int = 6, pause: float = 0.15) -> None:
    step = len(data) // chunks + 1
    with open(path, "wb") as fh:
        for i in range(0, len(data), step):
            fh.write(data[i:i + step])
            fh.flush()
            time.sleep(pause)


def test_a_slow_copy_is_taken_once_after_it_finishes(auth, start_watcher, inbox, speech, counts, db_query):
    data = speech("This recording arrives slowly, a piece at a time.").read_bytes()
    watcher = start_watcher()
    _write_slowly(inbox / "slow.wav", data)

    wait_for(lambda: counts()["transcripts"] == 1, message="the slow copy to be submitted")
    assert watcher.wait_idle(10)
    assert db_query(lambda s: s.scalar(select(Media.size))) == len(data)  # the whole file, not a prefix
    c = counts()
    assert (c["transcripts"], c["ledger"], c["queued_jobs"]) == (1, 1, 1)


def test_a_part_file_is_taken_only_under_its_final_name(auth, start_watcher, inbox, speech, counts, db_query):
    watcher = start_watcher()
    part = inbox / "download.wav.part"
    shutil.copyfile(speech("Downloaded in a browser."), part)
    assert watcher.wait_idle(10)
    assert counts()["ledger"] == 0

    part.rename(inbox / "download.wav")
    wait_for(lambda: counts()["transcripts"] == 1, message="the renamed file to be submitted")
    assert db_query(lambda s: s.scalar(select(Transcript.title))) == "download.wav"
    assert db_query(lambda s: s.scalar(select(Media.source))) == "folder"


def test_the_same_content_under_two_names_makes_one_job(auth, start_watcher, inbox, speech, counts, db_query):
    clip = speech("The same words twice.")
    watcher = start_watcher()
    shutil.copyfile(clip, inbox / "first.wav")
    shutil.copyfile(clip, inbox / "copy of first.wav")

    wait_for(lambda: counts()["statuses"].get("submitted") == 2, message="both names in the ledger")
    assert watcher.wait_idle(10)
    rows = db_query(lambda s: [(r.location, r.transcript_id, r.sha256) for r in s.scalars(select(IngestRecord))])
    assert len({tid for _, tid, _ in rows}) == 1 and len({sha for *_, sha in rows}) == 1
    c = counts()
    assert (c["transcripts"], c["queued_jobs"]) == (1, 1)


def test_files_present_before_start_are_caught_up_and_restarts_add_nothing(auth, start_watcher, inbox, counts):
    make_wav(inbox / "a.wav", 1)
    make_wav(inbox / "sub" / "dir" / "b.wav", 2)
    make_wav(inbox / ".hidden.wav", 3)
    make_wav(inbox / "done" / "old.wav", 4)

    first = start_watcher()
    wait_for(lambda: counts()["transcripts"] == 2, message="the two waiting files to be caught up")
    assert first.wait_idle(10)
    first.stop()

    second = start_watcher()  # a restart: the rescan finds the same files and the ledger says they are taken
    assert second.wait_idle(10)
    c = counts()
    assert (c["transcripts"], c["ledger"], c["queued_jobs"]) == (2, 2, 2)


def test_a_burst_of_fifty_files_all_arrive_once(auth, start_watcher, inbox, counts):
    watcher = start_watcher(threads=4)
    burst = inbox / "scanner" / "batch"  # a brand-new subfolder, created after the watch started
    for i in range(50):
        make_wav(burst / f"note-{i:02}.wav", 100 + i, seconds=0.05)

    wait_for(lambda: counts()["transcripts"] == 50, timeout=40, message="all 50 files to be submitted")
    assert watcher.wait_idle(20)
    c = counts()
    assert (c["transcripts"], c["ledger"], c["queued_jobs"]) == (50, 50, 50)


def test_an_unsupported_file_is_reported_once_and_left_alone(auth, start_watcher, inbox, counts, caplog):
    caplog.set_level(logging.WARNING, logger="scriptorium.ingest")
    watcher = start_watcher()
    (inbox / "minutes.pdf").write_bytes(b"%PDF-1.4 not audio")
    (inbox / "notes.txt").write_text("a sidecar-like text file is not reported")

    wait_for(lambda: counts()["statuses"].get("unsupported") == 1, message="the pdf to be reported")
    watcher.request_scan(inbox)  # seen again (as a rescan would): not reported again
    assert watcher.wait_idle(10)
    assert (inbox / "minutes.pdf").exists()
    reports = [r for r in caplog.records if "minutes.pdf" in r.getMessage()]
    assert len(reports) == 1 and "not an audio or video file" in reports[0].getMessage()
    assert counts()["transcripts"] == 0 and counts()["ledger"] == 1


def test_results_are_written_beside_the_source_and_sources_moved(auth, app, start_watcher, inbox, speech,
                                                                 counts, run_jobs):
    from ingest.results import Delivery
    from ingest.watcher import ResultsLoop

    watcher = start_watcher()
    shutil.copyfile(speech("Results come back beside the recording."), inbox / "talk.wav")
    (inbox / "broken.wav").write_bytes(b"RIFF this is not really audio at all" * 10)
    wait_for(lambda: counts()["transcripts"] == 2, message="both files to be submitted")

    assert watcher.wait_idle(10)  # submitted and enqueued

    run_jobs()
    loop = ResultsLoop(app, Delivery(root=inbox, output="beside", formats=("srt", "vtt", "txt"), move_done=True))
    assert loop.run_once() == 2
    assert loop.run_once() == 0  # delivered once

    done, failed = inbox / "done", inbox / "failed"
    assert sorted(os.listdir(done)) == ["talk.srt", "talk.txt", "talk.vtt", "talk.wav"]
    assert "beside the recording" in (done / "talk.txt").read_text().lower()
    assert "-->" in (done / "talk.srt").read_text() and (done / "talk.vtt").read_text().startswith("WEBVTT")
    assert sorted(os.listdir(failed)) == ["broken.error.txt", "broken.wav"]
    assert "could not be transcribed" in (failed / "broken.error.txt").read_text()
    assert not (inbox / "talk.wav").exists()
    assert watcher.wait_idle(10)  # our own outputs and moves are not ingested again
    assert counts()["ledger"] == 2 and counts()["statuses"] == {"delivered": 2}


def test_results_can_go_to_an_output_folder(auth, app, start_watcher, inbox, tmp_path, counts, run_jobs, speech):
    from ingest.results import Delivery, deliver_pending

    watcher = start_watcher()
    (inbox / "team").mkdir()
    shutil.copyfile(speech("Into the output folder."), inbox / "team" / "standup.wav")
    wait_for(lambda: counts()["transcripts"] == 1, message="the file to be submitted")
    assert watcher.wait_idle(10)  # submitted and enqueued
    run_jobs()
    out = tmp_path / "subtitles"
    with app.app_context():
        assert deliver_pending(Delivery(root=inbox, output=str(out), formats=("srt",))) == 1
    assert (out / "team" / "standup.srt").exists()
    assert (inbox / "team" / "standup.wav").exists()  # not moved unless asked


def test_the_polling_observer_takes_files_too(auth, start_watcher, inbox, counts):
    """For network shares, where inotify sees nothing (WATCH_POLLING=true)."""
    start_watcher(polling=True)
    make_wav(inbox / "from-the-share.wav", 7)
    wait_for(lambda: counts()["transcripts"] == 1, message="the polled file to be submitted")


def test_the_ingest_role_runs_what_the_settings_turn_on(app, configure, inbox, redis_url):
    import pytest

    from ingest import watcher
    from ingest.folder import FolderWatcher
    from ingest.redis_events import RedisEventConsumer

    configure(watch_dir=None, minio_redis_url=None, minio_listen=False)
    with pytest.raises(SystemExit, match="nothing to do"):
        watcher.main(app)
    configure(watch_dir=inbox, watch_output="beside", minio_redis_url=redis_url)
    kinds = [type(p) for p in watcher.build(app)]
    assert kinds == [FolderWatcher, watcher.ResultsLoop, RedisEventConsumer]
    configure(watch_dir=None, minio_redis_url=None, minio_webhook_token="a-token")
    (hook_consumer,) = watcher.build(app)  # the hook only queues: the ingest role must consume its list
    from webapp.bucket_events import HOOK_EVENTS_KEY

    assert isinstance(hook_consumer, RedisEventConsumer) and hook_consumer.key == HOOK_EVENTS_KEY


def test_a_meeting_dropped_with_no_options_comes_back_with_its_speakers(auth, app, start_watcher, inbox, run_jobs,
                                                                       counts, db_query):
    """Nobody says how many people speak in a dropped file: pyannote's real two-person recording comes back with
    two speakers detected (not given) and the words of both under them."""
    from pathlib import Path

    import pytest

    pyannote_audio = pytest.importorskip("pyannote.audio")
    watcher = start_watcher()
    shutil.copyfile(Path(pyannote_audio.__file__).parent / "sample" / "sample.wav", inbox / "meeting.wav")
    wait_for(lambda: counts()["transcripts"] == 1, message="the file to be submitted")
    assert watcher.wait_idle(10)
    run_jobs()

    def read(session):
        t = session.scalars(select(Transcript)).one()
        return t.status, t.speaker_count, t.speaker_count_given, {s.speaker for s in t.segments if s.text.strip()}

    status, count, given, labels = db_query(read)
    assert status == "done"
    assert (count, given) == (2, False)
    assert len(labels - {None}) == 2
