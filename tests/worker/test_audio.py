"""Decoding any container to 16 kHz mono float32, and the words a user sees when a file is bad."""
from __future__ import annotations

import subprocess

import numpy as np
import pytest

from worker.audio import SAMPLE_RATE, load_audio, probe
from worker.errors import MediaError


@pytest.mark.parametrize("ext, args", [
    ("mp3", []), ("m4a", ["-c:a", "aac"]), ("ogg", ["-c:a", "libopus"]), ("flac", []),
    ("webm", ["-c:a", "libopus"]), ("mkv", []),
])
def test_containers_decode_to_the_same_audio(clips, ffmpeg, tmp_path, ext, args):
    out = tmp_path / f"speech.{ext}"
    subprocess.run([ffmpeg, "-v", "error", "-i", str(clips.speech), *args, str(out)], check=True)
    reference = load_audio(clips.speech)
    audio = load_audio(out)
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert abs(len(audio) - len(reference)) < 0.1 * SAMPLE_RATE  # codecs pad a few ms
    assert 0.05 < np.abs(audio).max() <= 1.0


def test_probe_describes_video_with_audio(clips):
    info = probe(clips.speech_mp4)
    assert info.has_audio and info.has_video and "mp4" in info.format
    assert info.duration == pytest.approx(len(load_audio(clips.speech)) / SAMPLE_RATE, abs=0.2)


@pytest.mark.parametrize("name, message", [
    ("empty", "the file is empty"),
    ("random_wav", "not an audio or video file"),
    ("video_only", "the file has no audio track"),
])
def test_bad_files_say_why(clips, name, message):
    with pytest.raises(MediaError, match=message):
        load_audio(getattr(clips, name))


def test_text_file_and_cut_off_mp4(clips, tmp_path):
    text = tmp_path / "notes.mp3"
    text.write_text("minutes of the meeting\n")
    with pytest.raises(MediaError, match="not an audio or video file"):
        load_audio(text)
    cut = tmp_path / "cut.mp4"  # the index (moov) is written last, so a cut-off recording has none
    cut.write_bytes(clips.speech_mp4.read_bytes()[:4000])
    with pytest.raises(MediaError, match="truncated or corrupt"):
        load_audio(cut)


def test_longer_than_maximum(clips):
    with pytest.raises(MediaError, match="longer than the maximum of 0.1 minutes"):
        load_audio(clips.speech, max_duration_s=6)
    import wave

    with wave.open(str(clips.speech)) as w:  # under the limit: the whole recording, at 16 kHz
        seconds = w.getnframes() / w.getframerate()
    assert len(load_audio(clips.speech, max_duration_s=600)) / SAMPLE_RATE == pytest.approx(seconds, abs=0.05)
