"""Issue 12 against the real watcher (inotify) and results delivery on real files: whoever can write into the
watched folder must not make the ingester read, move or write anything outside it, overwrite results, hide them
from colleagues, choke on a name, forge log lines, or copy a file it is going to refuse."""
from __future__ import annotations

import logging
import os
import shutil
import stat
import subprocess
from contextlib import contextmanager

import pytest
from sqlalchemy import event, select

from tests.ingest.conftest import make_wav, wait_for
from webapp.models import IngestRecord, Media, Segment, Transcript, Word


@pytest.fixture
def outside(tmp_path):
    """A folder beside the watched one, holding something a stranger should not get at."""
    path = tmp_path / "outside"
    path.mkdir()
    return path


def ledger_rows(db_query) -> dict[str, tuple[str, str | None]]:
    return db_query(lambda s: {r.location: (r.status, r.error) for r in s.scalars(select(IngestRecord))})


@contextmanager
def umask(mask: int):
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


# -- reading: only regular files really inside the folder -----------------------------------------------------
def test_a_symlink_in_the_inbox_is_refused_once_and_its_target_never_read(auth, start_watcher, inbox, outside,
                                                                         speech, counts, db_query, caplog):
    caplog.set_level(logging.WARNING, logger="scriptorium.ingest")
    secret = outside / "private-meeting.wav"
    shutil.copyfile(speech("A private meeting nobody shared."), secret)
    watcher = start_watcher()
    (inbox / "innocent.wav").symlink_to(secret)

    wait_for(lambda: counts()["statuses"].get("rejected") == 1, message="the link to be refused")
    watcher.request_scan(inbox)  # a rescan sees it again: not reported again, still not taken
    assert watcher.wait_idle(10)
    ((location, (status, error)),) = ledger_rows(db_query).items()
    assert location == str(inbox / "innocent.wav") and "symbolic link" in error
    assert counts()["transcripts"] == 0 and db_query(lambda s: s.scalar(select(Media.id))) is None
    assert len([r for r in caplog.records if "innocent.wav" in r.getMessage()]) == 1


def test_a_linked_folder_is_not_followed(auth, start_watcher, inbox, outside, counts):
    make_wav(outside / "deep" / "secret.wav", 11)
    watcher = start_watcher()
    (inbox / "shared").symlink_to(outside)
    watcher.request_scan(inbox / "shared")  # as a folder moved in would
    watcher.request_scan(inbox)
    assert watcher.wait_idle(10)
    make_wav(inbox / "real.wav", 12)  # a real file still goes through: the watcher is alive
    wait_for(lambda: counts()["transcripts"] == 1, message="the real file to be submitted")
    assert watcher.wait_idle(10)
    assert counts()["statuses"].get("submitted") == 1
    assert "secret.wav" not in str(counts())


# -- writing: only into real folders, never through a link ------------------------------------------------------
def _two_finished(start_watcher, inbox, speech, counts, run_jobs):
    watcher = start_watcher()
    shutil.copyfile(speech("Results stay inside the share."), inbox / "talk.wav")
    (inbox / "broken.wav").write_bytes(b"RIFF this is not really audio at all" * 10)
    wait_for(lambda: counts()["transcripts"] == 2, message="both files to be submitted")
    assert watcher.wait_idle(10)  # submitted and enqueued
    run_jobs()
    return watcher


def test_symlinked_done_and_failed_folders_are_never_written_through(auth, app, start_watcher, inbox, outside,
                                                                     speech, counts, run_jobs, caplog):
    from ingest.results import Delivery
    from ingest.watcher import ResultsLoop

    caplog.set_level(logging.WARNING, logger="scriptorium.ingest")
    (outside / "done").mkdir()
    (outside / "failed").mkdir()
    (inbox / "done").symlink_to(outside / "done")
    (inbox / "failed").symlink_to(outside / "failed")
    watcher = _two_finished(start_watcher, inbox, speech, counts, run_jobs)
    loop = ResultsLoop(app, Delivery(root=inbox, output="beside", move_done=True))

    assert loop.run_once() == 0 and loop.run_once() == 0
    assert os.listdir(outside / "done") == [] and os.listdir(outside / "failed") == []
    assert (inbox / "talk.wav").exists() and (inbox / "broken.wav").exists()  # not moved out
    assert counts()["statuses"] == {"submitted": 2}
    assert len([r for r in caplog.records if "never written through a link" in r.getMessage()]) == 2  # once each

    (inbox / "done").unlink()
    (inbox / "failed").unlink()
    assert loop.run_once() == 2  # once the links are gone, results are delivered into real folders
    assert sorted(os.listdir(inbox / "done")) == ["talk.srt", "talk.txt", "talk.vtt", "talk.wav"]
    assert sorted(os.listdir(inbox / "failed")) == ["broken.error.txt", "broken.wav"]
    assert not (inbox / "done").is_symlink() and watcher.wait_idle(10)


def test_a_symlinked_output_folder_is_never_written_through(auth, app, start_watcher, inbox, outside, tmp_path,
                                                            speech, counts, run_jobs):
    from ingest.results import Delivery, deliver_pending

    (inbox / "output").symlink_to(outside)  # WATCH_OUTPUT points inside the share, and someone swapped it
    elsewhere = tmp_path / "subtitles"
    (elsewhere / "team").parent.mkdir()
    (elsewhere / "team").symlink_to(outside)  # a subfolder of an output folder outside the share, swapped too
    watcher = start_watcher()
    (inbox / "team").mkdir()
    shutil.copyfile(speech("Into the output folder."), inbox / "team" / "standup.wav")
    wait_for(lambda: counts()["transcripts"] == 1, message="the file to be submitted")
    assert watcher.wait_idle(10)  # submitted and enqueued
    run_jobs()
    with app.app_context():
        assert deliver_pending(Delivery(root=inbox, output=str(inbox / "output"), formats=("srt",))) == 0
        assert deliver_pending(Delivery(root=inbox, output=str(elsewhere), formats=("srt",))) == 0
    assert os.listdir(outside) == []
    (elsewhere / "team").unlink()
    with app.app_context():
        assert deliver_pending(Delivery(root=inbox, output=str(elsewhere), formats=("srt",))) == 1
    assert (elsewhere / "team" / "standup.srt").is_file() and os.listdir(outside) == []


# -- results: no overwriting, readable by colleagues -----------------------------------------------------------
def test_talk_wav_and_talk_flac_keep_their_own_results(auth, app, start_watcher, inbox, speech, counts, run_jobs):
    from ingest.results import Delivery
    from ingest.watcher import ResultsLoop

    watcher = start_watcher()
    shutil.copyfile(speech("The wave file speaks first."), inbox / "talk.wav")
    subprocess.run(["sox", str(speech("The flac file speaks second.")), str(inbox / "talk.flac")], check=True)
    wait_for(lambda: counts()["transcripts"] == 2, message="both files to be submitted")
    assert watcher.wait_idle(10)  # submitted and enqueued
    run_jobs()
    assert ResultsLoop(app, Delivery(root=inbox, output="beside", formats=("txt",), move_done=True)).run_once() == 2

    done = inbox / "done"
    names = sorted(os.listdir(done))  # whichever was delivered second gets its full name as the stem
    assert names in (["talk.flac", "talk.flac.txt", "talk.txt", "talk.wav"],
                     ["talk.flac", "talk.txt", "talk.wav", "talk.wav.txt"]), names
    texts = [(done / name).read_text().lower() for name in names if name.endswith(".txt")]
    assert sum("first" in t for t in texts) == 1 and sum("second" in t for t in texts) == 1
    assert watcher.wait_idle(10)


@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o002, 0o664)])
def test_result_files_get_the_usual_permissions_not_0600(auth, app, start_watcher, inbox, speech, counts,
                                                         run_jobs, mask, mode):
    from ingest.results import Delivery, deliver_pending

    watcher = start_watcher()
    shutil.copyfile(speech("Colleagues can read this."), inbox / "shared.wav")
    (inbox / "bad.wav").write_bytes(b"RIFF not audio" * 20)
    wait_for(lambda: counts()["transcripts"] == 2, message="the files to be submitted")
    assert watcher.wait_idle(10)  # submitted and enqueued
    run_jobs()
    with umask(mask), app.app_context():
        assert deliver_pending(Delivery(root=inbox, output="beside", formats=("srt", "txt"))) == 2
    for name in ("shared.srt", "shared.txt", "bad.error.txt"):
        assert stat.S_IMODE((inbox / name).stat().st_mode) == mode, name


# -- names ---------------------------------------------------------------------------------------------------
def test_a_name_that_is_not_utf8_is_ingested_and_delivered_without_tracebacks(auth, app, start_watcher, inbox,
                                                                              speech, counts, db_query, run_jobs,
                                                                              caplog):
    from ingest.results import Delivery
    from ingest.watcher import ResultsLoop

    caplog.set_level(logging.INFO, logger="scriptorium.ingest")
    raw = os.fsencode(inbox) + b"/caf\xe9 notes.wav"  # Latin-1 bytes from an old Windows share
    shutil.copyfile(speech("A name from an old share."), raw)
    watcher = start_watcher()
    wait_for(lambda: counts()["transcripts"] == 1, message="the file with a Latin-1 name to be submitted")
    watcher.request_scan(inbox)  # rescans find it taken, and say nothing
    assert watcher.wait_idle(10) and counts()["queued_jobs"] == 1
    assert db_query(lambda s: s.scalar(select(Transcript.title))) == "caf\ufffd notes.wav"
    assert ledger_rows(db_query) == {f"{inbox}/caf\\xe9 notes.wav": ("submitted", None)}
    run_jobs()
    assert ResultsLoop(app, Delivery(root=inbox, output="beside", formats=("txt",), move_done=True)).run_once() == 1
    assert sorted(os.listdir(os.fsencode(inbox / "done"))) == [b"caf\xe9 notes.txt", b"caf\xe9 notes.wav"]
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


def test_a_newline_in_a_name_cannot_forge_a_log_line(auth, start_watcher, inbox, counts, caplog):
    caplog.set_level(logging.INFO, logger="scriptorium.ingest")
    forged = "minutes.pdf\n2026-11-30 10:00:00 INFO scriptorium.ingest admin.wav -> transcript 1 (queued)"
    watcher = start_watcher()
    (inbox / forged).write_bytes(b"%PDF-1.4")
    make_wav(inbox / "line\rbreak\u2028.wav", 21)
    wait_for(lambda: counts()["ledger"] == 2, message="both files to be seen")
    assert watcher.wait_idle(10)
    lines = [r.getMessage() for r in caplog.records if "minutes.pdf" in r.getMessage() or "break" in r.getMessage()]
    assert len(lines) == 2
    for line in lines:
        assert not any(ch in line for ch in "\n\r\u2028"), line
    assert any("minutes.pdf\\n2026-11-30" in line for line in lines)


# -- size: refused before a byte is copied ----------------------------------------------------------------------
def test_a_file_over_the_upload_limit_is_refused_by_its_size_once(auth, app, configure, start_watcher, inbox,
                                                                 counts, db_query, caplog):
    caplog.set_level(logging.WARNING, logger="scriptorium.ingest")
    configure(max_upload_mb=1)
    big = inbox / "long recording.wav"
    with open(big, "wb") as fh:
        fh.truncate(3 * 1024 * 1024)  # sparse: its size says enough
    watcher = start_watcher()
    wait_for(lambda: counts()["statuses"].get("rejected") == 1, message="the big file to be refused")
    watcher.request_scan(inbox)
    assert watcher.wait_idle(10)
    ((status, error),) = ledger_rows(db_query).values()
    assert status == "rejected" and "larger than the 1 MB upload limit" in error
    assert counts()["transcripts"] == 0
    spool = app.config["SCRIPTORIUM"].data_dir / "tmp"
    assert not spool.exists() or os.listdir(spool) == []
    assert len([r for r in caplog.records if "long recording.wav" in r.getMessage()]) == 1


# -- delivery loads a transcript's words in a few queries, not one per segment ---------------------------------
def test_results_delivery_loads_segments_and_words_in_a_few_queries(auth, app, start_watcher, inbox, counts,
                                                                   db_query, tmp_path):
    from ingest.results import Delivery, deliver_pending
    from webapp.extensions import db

    start_watcher()
    make_wav(inbox / "many segments.wav", 31)
    wait_for(lambda: counts()["transcripts"] == 1, message="the file to be submitted")

    def finish(s):  # forty segments of three words each, as a finished job would leave them
        t = s.scalar(select(Transcript))
        t.status = "done"
        for i in range(40):
            seg = Segment(transcript_id=t.id, idx=i, start=i, end=i + 1, text=f"part {i} here")
            seg.words = [Word(transcript_id=t.id, idx=j, start=i + j / 3, end=i + (j + 1) / 3, word=w)
                         for j, w in enumerate(("part", str(i), "here"))]
            s.add(seg)
        s.commit()

    db_query(finish)
    statements = []
    with app.app_context():
        listen = lambda *args: statements.append(args[2])  # noqa: E731
        event.listen(db.engine, "before_cursor_execute", listen)
        try:
            assert deliver_pending(Delivery(root=inbox, output=str(tmp_path / "out"), formats=("srt", "txt"))) == 1
        finally:
            event.remove(db.engine, "before_cursor_execute", listen)
    assert "part 39 here" in (tmp_path / "out" / "many segments.txt").read_text()
    assert len(statements) <= 7, statements  # was 40+: one query per segment
