"""The pure pipeline: media path + Options -> TranscriptResult with timed, scored words."""
from __future__ import annotations

import pytest

from worker.errors import MediaError, ModelNotAvailable
from worker.pipeline import transcribe, transcribe_files
from worker.result import Options

TINY = Options(model="tiny.en")


def _all_words(result):
    return [w for s in result.segments for w in s.words]


def test_known_text_is_transcribed(tiny_result, clips, wer):
    result, _ = tiny_result
    text = " ".join(s.text for s in result.segments)
    assert wer(clips.speech_text, text) < 0.3, text
    assert result.language == "en" and result.model == "tiny.en"
    assert result.word_timing == "whisper"  # no wav2vec2 alignment model is installed offline


def test_words_are_timed_scored_and_in_order(tiny_result):
    result, _ = tiny_result
    words = _all_words(result)
    assert len(words) >= 25
    previous_end = 0.0
    for w in words:
        assert None not in (w.start, w.end, w.score)
        assert 0.0 <= previous_end <= w.start <= w.end <= result.duration
        assert 0.0 <= w.score <= 1.0
        previous_end = w.end
    for seg in result.segments:
        assert seg.start == seg.words[0].start and seg.end == seg.words[-1].end
    assert len(result.segments) >= 3  # split into sentences, not one 30 s chunk


def test_progress_reports_each_stage_in_order(tiny_result):
    _, reports = tiny_result
    stages = [s for s, _ in reports]
    assert [s for i, s in enumerate(stages) if s not in stages[:i]] == ["decode", "transcribe", "align"]
    assert all(0.0 <= f <= 1.0 for _, f in reports)
    assert ("transcribe", 1.0) in reports


def test_video_with_audio_is_transcribed(clips, wer):
    result = transcribe(clips.speech_mp4, TINY)
    assert wer(clips.speech_text, " ".join(s.text for s in result.segments)) < 0.3


@pytest.mark.parametrize("name, message", [
    ("video_only", "no audio track"), ("empty", "the file is empty"), ("random_wav", "not an audio or video file"),
])
def test_bad_media_fails_before_any_model_loads(clips, name, message):
    with pytest.raises(MediaError, match=message):
        transcribe(getattr(clips, name), Options(model="not-a-model"))


def test_missing_model_is_a_clear_error(clips):
    with pytest.raises(ModelNotAvailable, match="model 'large-v9' is not installed"):
        transcribe(clips.speech, Options(model="large-v9"))


def test_transcribe_files_keeps_going_after_a_bad_file(clips):
    out = dict(transcribe_files([clips.empty, clips.speech], TINY))
    assert isinstance(out[clips.empty], MediaError)
    assert out[clips.speech].segments


@pytest.mark.slow
def test_base_detects_language_and_transcribes(clips, wer):
    result = transcribe(clips.speech, Options(model="base"))  # language=None: detected
    assert result.language == "en" and result.language_probability > 0.5
    assert wer(clips.speech_text, " ".join(s.text for s in result.segments)) < 0.2


def test_untimed_words_are_interpolated_and_clamped():
    from worker.result import Segment, Word
    from worker.words import repair

    seg = Segment(1.0, 3.0, "a b c d", words=[
        Word("a", 1.0, 1.4, 0.9), Word("b", None, None, None), Word("c", None, None, None), Word("d", 2.6, 9.0, 0.8)])
    (fixed,) = repair([seg], duration=4.0)
    assert [(w.start, w.end) for w in fixed.words] == [(1.0, 1.4), (1.4, 2.0), (2.0, 2.6), (2.6, 4.0)]
    assert [w.score for w in fixed.words] == [0.9, 0.0, 0.0, 0.8]
    assert (fixed.start, fixed.end) == (1.0, 4.0)


def test_suppress_numerals_writes_numbers_as_words(tmp_path):
    import subprocess

    from worker.pipeline import transcribe
    from worker.result import Options

    clip = tmp_path / "numbers.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(clip),
                    "We sold 25 tickets on the 3rd of May for 40 dollars each."], check=True)
    plain = " ".join(s.text for s in transcribe(clip, Options(model="tiny.en")).segments)
    spelled = " ".join(s.text for s in transcribe(clip, Options(model="tiny.en", suppress_numerals=True)).segments)
    assert any(ch.isdigit() for ch in plain), plain  # Whisper's habit: digits
    assert not any(ch.isdigit() for ch in spelled), spelled
    assert "tickets" in spelled.lower()


def test_a_failed_aligner_load_is_retried_after_a_while_and_a_success_is_kept(monkeypatch):
    """The loader (whisperx/torchaudio reading local files) is the boundary faked here."""
    from worker import words

    clock = [1000.0]
    calls: list[str] = []
    outcome: list[object] = [FileNotFoundError("not cached yet")]

    def loader(language, device, name=None):
        calls.append(language)
        if isinstance(outcome[0], Exception):
            raise outcome[0]
        return outcome[0]

    monkeypatch.setattr(words, "_try_load", loader)
    monkeypatch.setattr(words, "_now", lambda: clock[0])
    monkeypatch.setattr(words, "_ALIGNERS", {})
    monkeypatch.setattr(words, "_FAILED", {})

    assert words._load_aligner("xx", "cpu") is None and calls == ["xx"]
    clock[0] += words.RETRY_AFTER_S - 1
    assert words._load_aligner("xx", "cpu") is None and calls == ["xx"]  # not retried on every job
    outcome[0] = ("model", "metadata")  # the model was copied into the cache meanwhile
    clock[0] += 2
    assert words._load_aligner("xx", "cpu") == ("model", "metadata") and calls == ["xx", "xx"]
    clock[0] += 10 * words.RETRY_AFTER_S
    assert words._load_aligner("xx", "cpu") == ("model", "metadata") and calls == ["xx", "xx"]  # kept


def _link_tree(src, dst):
    """A second folder holding the same model files (hard links when the file system allows, else copies)."""
    import os
    import shutil

    dst.mkdir()
    for f in src.iterdir():
        try:
            os.link(f, dst / f.name)
        except OSError:
            shutil.copyfile(f, dst / f.name)
    return dst


def test_a_worker_keeps_only_the_most_recently_used_models(tmp_path, monkeypatch):
    from webapp.model_registry import installed
    from worker import pipeline

    monkeypatch.setattr(pipeline, "_MODELS", type(pipeline._MODELS)())
    monkeypatch.setattr(pipeline, "MAX_MODELS", 2)
    allowed_root = tmp_path / "models"
    allowed_root.mkdir()
    extra = _link_tree(installed()["tiny.en"], allowed_root / "tiny-copy")
    allowed = [str(allowed_root)]

    tiny = pipeline.load_model("tiny.en", "cpu", "int8", allowed_paths=allowed)
    pipeline.load_model("base", "cpu", "int8", allowed_paths=allowed)
    # one spelling, one model; now the most recent
    assert pipeline.load_model("TINY.EN", "cpu", "int8", allowed_paths=allowed) is tiny
    assert pipeline.loaded_models() == ["base", "tiny.en"]
    pipeline.load_model(str(allowed_root / "." / "tiny-copy"), "cpu", "int8", allowed_paths=allowed)  # a third model
    assert pipeline.loaded_models() == ["tiny.en", str(extra.resolve())]  # base, least recently used, is gone
    assert [key[:3] for key in pipeline._MODELS] == [("tiny.en", "cpu", "int8"), (str(extra.resolve()), "cpu", "int8")]


def test_the_worker_refuses_a_model_path_nobody_allowed(tmp_path):
    from webapp.model_registry import installed
    from worker import pipeline

    stray = _link_tree(installed()["tiny.en"], tmp_path / "stray")
    with pytest.raises(ModelNotAvailable, match=r"model '.*stray' is not installed; installed: .*tiny\.en"):
        pipeline.load_model(str(stray), "cpu", "int8", allowed_paths=[])


def test_a_worker_says_which_models_it_holds(app):
    """What the Models page can show: each live worker's models, through Redis."""
    from webapp import queue
    from webapp.model_registry import worker_models
    from worker import pipeline
    from worker.runner import ModelAnnouncer
    from worker.tasks import _me

    pipeline.load_model("tiny.en", "cpu", "int8")
    ModelAnnouncer(app).announce()
    with app.app_context():
        held = worker_models(queue.connection())
    assert "tiny.en" in held[_me()] and held[_me()] == pipeline.loaded_models()
