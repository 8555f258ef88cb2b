"""`scriptorium transcribe` as a WhisperX user runs it: the real pipeline (tiny.en) on espeak clips, looking only
at what a person sees: exit status, files written, stdout and stderr. What is about the process itself (a terminal
on stderr, nothing else on stdout and stderr) runs in a subprocess; the other scenarios run the same command line
in this process (`cli`), where the model is already loaded: a subprocess pays ~7 s to load it again."""
from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import shutil
import struct
import subprocess
import sys
import termios

import srt
import webvtt
import pytest
from click.testing import CliRunner

from cliutil import cli_env, run_cli, run_cli_here

FIRST = "The committee will meet on Tuesday to discuss the budget for next year."
SECOND = "Children were playing football in the park after school."
THIRD = "Please remember to bring your notebook and a pencil to the meeting."


@pytest.fixture
def cli(capfd, monkeypatch):
    """cli(*args) -> CompletedProcess: `scriptorium ARGS...` in this process (see cliutil.run_cli_here)."""
    return lambda *args: run_cli_here(capfd, monkeypatch, *args)


def _words(text: str) -> set[str]:
    return set(re.sub(r"[^a-z ]+", " ", text.lower()).split())


def _heard(expected: str, text: str) -> bool:
    """Most of the sentence's words are in the text (tiny.en on espeak is nearly word for word)."""
    want = _words(expected)
    return len(want & _words(text)) >= 0.7 * len(want)


def test_several_formats_in_one_run_with_line_limits(tmp_path, speech):
    clip = shutil.copy(speech(FIRST), tmp_path / "budget.wav")
    out = tmp_path / "out"
    done = run_cli("transcribe", clip, "--format", "srt,vtt,txt,json", "-o", out, "--max-line-width", "24",
                   "--max-line-count", "1", "--quiet")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "" and done.stderr == ""  # --quiet: nothing to say when all went well
    assert sorted(p.name for p in out.iterdir()) == ["budget.json", "budget.srt", "budget.txt", "budget.vtt"]
    cues = list(srt.parse((out / "budget.srt").read_text()))
    assert cues and all(len(c.content.splitlines()) == 1 and len(c.content) <= 24 for c in cues), cues
    assert _heard(FIRST, " ".join(c.content for c in cues))
    vtt = list(webvtt.read(out / "budget.vtt"))
    assert vtt and all("\n" not in c.text and len(c.text) <= 24 for c in vtt)
    assert _heard(FIRST, (out / "budget.txt").read_text())
    doc = json.loads((out / "budget.json").read_text())
    assert doc["language"] == "en" and doc["segments"][0]["words"][0]["start"] is not None


def test_directory_input_skips_what_is_done_and_shows_a_bar_on_a_terminal(tmp_path, speech):
    folder = tmp_path / "recordings"
    (folder / "sub").mkdir(parents=True)
    shutil.copy(speech(FIRST), folder / "one.wav")
    (folder / "one.srt").write_text("1\n00:00:00,000 --> 00:00:01,000\nmade by hand\n")
    shutil.copy(speech(SECOND), folder / "sub" / "two.wav")
    (folder / "notes.txt").write_text("not a recording")  # not media: left alone, not reported

    # stderr on a pseudo-terminal, as in a person's shell
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 160, 0, 0))  # rows, columns
    proc = subprocess.Popen([sys.executable, "-m", "scriptorium.cli", "transcribe", str(folder), "-r", "-f", "srt"],
                            env=cli_env(TERM="xterm"), stdout=subprocess.PIPE, stderr=slave, cwd=tmp_path)
    os.close(slave)
    screen = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        screen += chunk
    os.close(master)
    assert proc.wait(timeout=300) == 0, screen.decode(errors="replace")[-2000:]
    shown = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen.decode(errors="replace"))  # colours, cursor moves
    last = shown[-2000:]

    assert (folder / "one.srt").read_text().endswith("made by hand\n")  # its output existed: skipped
    assert re.search(r"one\.wav: skipped, its outputs exist", shown), last
    assert _heard(SECOND, " ".join(c.content for c in srt.parse((folder / "sub" / "two.srt").read_text())))
    assert not (folder / "two.srt").exists() and not (folder / "notes.srt").exists()
    # the bar: the file, its stage and percent; then the summary line with duration and real-time factor
    bars = re.findall(r"two\.wav (decode|transcribe|align) +\S+ +(\d+)%", shown)
    # decoding a 3 s clip can finish between two redraws of the bar; transcription and alignment take longer
    assert {"transcribe", "align"} <= {stage for stage, _ in bars}, last
    assert "0:00:0" in shown and " left " in shown  # elapsed and time left
    assert re.search(r"two\.wav: \d+\.\d s of audio in \d+\.\d s \(real-time factor \d+\.\d\d\)", shown), last


def test_progress_json_for_scripts_while_the_transcript_goes_to_stdout(tmp_path, speech, cli):
    clip = shutil.copy(speech(THIRD), tmp_path / "notebook.wav")
    done = cli("transcribe", clip, "--format", "txt", "--progress", "json")
    assert done.returncode == 0, done.stderr
    assert _heard(THIRD, done.stdout)  # one file, one format, no --output-dir: the transcript on stdout
    assert not (tmp_path / "notebook.txt").exists()
    events = [json.loads(line) for line in done.stderr.splitlines()]  # every line is JSON
    progress = [e for e in events if e["event"] == "progress"]
    assert {e["file"] for e in events} == {str(clip)}
    assert [e["percent"] for e in progress] == sorted(e["percent"] for e in progress)
    assert progress[-1]["percent"] == 100 and progress[0]["percent"] == 0
    assert {"decode", "transcribe", "align"} <= {e["stage"] for e in progress}
    assert events[-1]["event"] == "done" and events[-1]["duration"] > 2 and events[-1]["rtf"] > 0


def test_a_corrupt_file_among_good_ones_fails_alone(tmp_path, speech, cli):
    shutil.copy(speech(FIRST), tmp_path / "a.wav")
    shutil.copy(speech(SECOND), tmp_path / "c.wav")
    (tmp_path / "b.wav").write_bytes(os.urandom(20_000))
    out = tmp_path / "subs"
    done = cli("transcribe", tmp_path / "a.wav", tmp_path / "b.wav", tmp_path / "c.wav", "-f", "srt",
                   "-o", out)
    assert done.returncode == 1, done.stderr
    assert f"error: {tmp_path / 'b.wav'}: not an audio or video file" in done.stderr
    assert "1 of 3 files failed" in done.stderr
    assert sorted(p.name for p in out.iterdir()) == ["a.srt", "c.srt"]
    assert _heard(SECOND, (out / "c.srt").read_text())


def test_speaker_counts_turn_on_diarization_and_are_reported(tmp_path, speech, cli):
    lines = [speech(FIRST, "en-us"), speech(THIRD, "en+f3"), speech(SECOND, "en-us")]
    dialogue = tmp_path / "dialogue.wav"
    subprocess.run(["sox", *map(str, lines), "-r", "16000", "-c", "1", str(dialogue)], check=True)
    done = cli("transcribe", dialogue, "--min-speakers", "2", "--max-speakers", "3", "-f", "srt,txt",
                   "-o", tmp_path)
    assert done.returncode == 0, done.stderr
    found = int(re.search(r"dialogue\.wav: .*, (\d) speakers ->", done.stderr).group(1))
    assert 2 <= found <= 3
    assert "[SPEAKER_0" in (tmp_path / "dialogue.srt").read_text()  # several speakers: named in the subtitles
    assert re.search(r"^SPEAKER_0\d: ", (tmp_path / "dialogue.txt").read_text(), re.M)


def test_a_missing_model_says_what_to_do(tmp_path, speech, cli):
    clip = shutil.copy(speech(FIRST), tmp_path / "a.wav")
    done = cli("transcribe", clip, "--model", "large-v9", "-o", tmp_path / "out")
    assert done.returncode == 1
    assert "model 'large-v9' is not installed; installed: " in done.stderr and "tiny.en" in done.stderr
    assert "scriptorium models" in done.stderr and "1 of 1 files failed" in done.stderr
    assert not (tmp_path / "out").exists()


def test_usage_errors_exit_2(tmp_path):
    from scriptorium.cli import main

    (tmp_path / "a.wav").write_bytes(b"RIFF")
    runner = CliRunner()
    for args, message in [
        (["transcribe", str(tmp_path / "a.wav"), "--format", "docx"], "unknown format 'docx'"),
        (["transcribe", str(tmp_path / "missing.wav")], "no such file or directory"),
        (["transcribe", str(tmp_path / "*.flac")], "no media files match"),
        (["transcribe", str(tmp_path / "a.wav"), "--min-speakers", "3", "--max-speakers", "2"], "more than"),
        (["transcribe", str(tmp_path / "a.wav"), "--no-diarize", "--num-speakers", "2"], "need --diarize"),
    ]:
        result = runner.invoke(main, args)
        assert result.exit_code == 2, (args, result.output)
        assert message in result.output, (args, result.output)


def test_formats_match_the_exports_and_the_client_needs_only_http():
    from scriptorium import batch
    from webapp import exports

    assert set(batch.FORMATS) == set(exports.FORMATS)
    loaded = subprocess.run([sys.executable, "-c", "import sys, scriptorium.client; print(sorted(sys.modules))"],
                            env=cli_env(), capture_output=True, text=True, check=True).stdout
    assert "'webapp" not in loaded and "'worker" not in loaded and "'flask'" not in loaded


def test_where_outputs_go(tmp_path):
    from scriptorium import batch

    (tmp_path / "in" / "deep").mkdir(parents=True)
    for name in ("in/talk.wav", "in/talk.mp3", "in/deep/talk.m4a", "in/.hidden.wav", "in/talk.srt"):
        (tmp_path / name).write_bytes(b"x")
    items, clashes = batch.plan((str(tmp_path / "in"),), ("srt",), None, recursive=True)
    assert [i.outputs["srt"] for i in items] == [tmp_path / "in/talk.srt", tmp_path / "in/deep/talk.srt"]
    assert [(c[0].name, "would overwrite" in c[1]) for c in clashes] == [("talk.wav", True)]
    items, _ = batch.plan((str(tmp_path / "in"),), ("srt", "vtt"), tmp_path / "out", recursive=True)
    assert items[1].outputs == {"srt": tmp_path / "out/deep/talk.srt", "vtt": tmp_path / "out/deep/talk.vtt"}
    assert batch.plan((str(tmp_path / "in" / "deep"),), ("txt",), None, recursive=False)[0][0].missing(False)
    (tmp_path / "empty").mkdir()
    assert batch.plan((str(tmp_path / "empty"),), ("txt",), None, recursive=True) == ([], [])
