"""Which model a job may name: registry names (one spelling each) and admin-allowed folders, nothing else."""
import os

from webapp.extensions import db
from webapp.model_registry import installed
from webapp.models import Transcript


def _upload(client, auth, path, model):
    with open(path, "rb") as fh:
        return client.post("/api/v1/transcripts", headers=auth, content_type="multipart/form-data",
                           data={"file": (fh, path.name), "model": model})


def test_a_model_path_is_refused_at_submit_with_the_installed_models_named(app, client, auth, speech, tmp_path):
    stray = tmp_path / "my-model"  # a real model folder, but not one the admin allowed
    stray.mkdir()
    for f in installed()["tiny.en"].iterdir():
        os.symlink(f, stray / f.name)
    clip = speech("Nobody may pick a model by path.")
    for spelling in (str(stray), str(stray) + "/", str(stray) + "/../my-model", "/etc", "no-such-model"):
        resp = _upload(client, auth, clip, spelling)
        assert resp.status_code == 400, resp.get_json()
        error = resp.get_json()["error"]
        assert "is not installed; installed: " in error and "tiny.en" in error and "base" in error
    with app.app_context():
        assert db.session.query(Transcript).count() == 0  # nothing stored or queued


def test_each_model_has_one_spelling_so_equal_requests_make_one_job(app, client, auth, speech):
    clip = speech("One spelling per model.")
    folder = installed()["tiny.en"]
    ids = set()
    for spelling in (" Tiny.EN ", "tiny.en", str(folder), str(folder) + "/../" + folder.name):
        resp = _upload(client, auth, clip, spelling)
        assert resp.status_code in (200, 201), resp.get_json()
        ids.add(resp.get_json()["id"])
    assert len(ids) == 1  # the same file with the same model: one transcript, not four
    with app.app_context():
        assert db.session.get(Transcript, ids.pop()).options["model"] == "tiny.en"
