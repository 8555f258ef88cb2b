"""Speakers: offline Resemblyzer turns, put onto words, checked on espeak voices and pyannote's real sample."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from worker.audio import load_audio
from worker.diarize import _cluster, resemblyzer_turns
from worker.pipeline import transcribe
from worker.result import Options, Segment, TranscriptResult, Word
from worker.speakers import apply_speakers

# Measured on pyannote's sample (num_speakers=2, collar 0, overlap scored): DER 0.216.
SAMPLE_DER_BOUND = 0.27


def test_two_voices_get_two_speakers_each_on_their_own_sentences(clips):
    result = transcribe(clips.dialogue, Options(model="tiny.en", diarize=True, num_speakers=2))
    assert result.diarization == "resemblyzer"
    assert result.speakers == ["SPEAKER_00", "SPEAKER_01"]
    words = [w for s in result.segments for w in s.words]
    assert all(w.speaker in result.speakers for w in words)
    by_sentence = []
    for start, end in clips.dialogue_times:
        inside = [w.speaker for w in words if start <= (w.start + w.end) / 2 <= end]
        by_sentence.append(Counter(inside).most_common(1)[0][0])
    voices = [voice for voice, _ in clips.dialogue_lines]
    assert by_sentence[0] == "SPEAKER_00"  # labelled in order of first appearance
    for voice, speaker in zip(voices, by_sentence):
        assert speaker == by_sentence[voices.index(voice)], by_sentence
    assert len(set(by_sentence)) == 2
    for seg in result.segments:  # segments never mix speakers
        assert {w.speaker for w in seg.words} == {seg.speaker}


def test_der_on_pyannote_sample():
    pyannote_audio = pytest.importorskip("pyannote.audio")
    from pyannote.core import Annotation, Segment as Span
    from pyannote.metrics.diarization import DiarizationErrorRate

    sample = Path(pyannote_audio.__file__).parent / "sample"
    reference = Annotation()
    for line in (sample / "sample.rttm").read_text().splitlines():
        f = line.split()
        reference[Span(float(f[3]), float(f[3]) + float(f[4]))] = f[7]
    hypothesis = Annotation()
    for start, end, label in resemblyzer_turns(load_audio(sample / "sample.wav"), Options(num_speakers=2)):
        hypothesis[Span(start, end)] = label
    der = DiarizationErrorRate(collar=0.0, skip_overlap=False)(reference, hypothesis)
    assert der < SAMPLE_DER_BOUND, der


def test_clustering_honours_the_number_of_speakers():
    rng = np.random.default_rng(0)
    centres = np.eye(4, 16)
    embeds = np.concatenate([c + 0.05 * rng.standard_normal((20, 16)) for c in centres])
    embeds /= np.linalg.norm(embeds, axis=1, keepdims=True)
    assert len(set(_cluster(embeds, Options()))) == 4  # estimated
    assert len(set(_cluster(embeds, Options(num_speakers=2)))) == 2
    assert len(set(_cluster(embeds, Options(max_speakers=3)))) == 3
    assert len(set(_cluster(embeds[:20], Options()))) == 1


def test_segments_split_where_the_speaker_changes():
    words = [Word(w, i, i + 0.8, 0.9) for i, w in enumerate("hello there general kenobi".split())]
    result = TranscriptResult("en", 5.0, [Segment(0, 3.8, "hello there general kenobi", words=words)], "tiny.en")
    turns = pd.DataFrame([(0, 1.9, "SPEAKER_07"), (1.9, 5.0, "SPEAKER_03")], columns=["start", "end", "speaker"])
    apply_speakers(result, turns)
    assert [(s.speaker, s.text) for s in result.segments] == [
        ("SPEAKER_00", "hello there"), ("SPEAKER_01", "general kenobi")]
    assert result.speakers == ["SPEAKER_00", "SPEAKER_01"]
