"""Model names to local folders; `base` assembled from its two PyPI parts and verified."""
from __future__ import annotations

import pytest

from webapp import model_registry as models
from worker.errors import ModelNotAvailable


def _no_hashing(*args, **kwargs):
    raise AssertionError("the verified model was read and hashed again")


def test_installed_models_include_the_shipped_ones():
    found = models.installed()
    assert {"tiny.en", "base"} <= set(found)
    assert (found["tiny.en"] / "model.bin").is_file()


def test_unknown_model_names_what_is_installed():
    with pytest.raises(ModelNotAvailable, match=r"model 'large-v9' is not installed; installed: .*tiny\.en"):
        models.resolve("large-v9")


def test_hub_name_that_is_not_cached_is_not_downloaded(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HOME", str(tmp_path))  # an empty cache
    with pytest.raises(ModelNotAvailable, match="model 'small' is not installed"):
        models.resolve("small")


def test_local_folder_is_accepted():
    folder = models.installed()["tiny.en"]
    assert models.resolve(str(folder)) == folder


def test_install_base_is_verified_and_idempotent(tmp_path, monkeypatch):
    target = models.install(tmp_path / "base")
    assert (target / "model.bin").stat().st_size == models.BASE_SIZE
    assert (target / ".scriptorium-verified").read_text().strip() == models.BASE_SHA256
    assert {"config.json", "tokenizer.json", "vocabulary.txt"} <= {p.name for p in target.iterdir()}
    with monkeypatch.context() as patch:  # already verified: returned at once, nothing read or hashed again
        patch.setattr(models.hashlib, "sha256", _no_hashing)
        patch.setattr(models, "_base_parts", _no_hashing)
        assert models.install(target) == target
    (target / ".scriptorium-verified").write_text("something else\n")
    models.install(target)  # a bad marker means: assemble and verify again
    assert (target / ".scriptorium-verified").read_text().strip() == models.BASE_SHA256
