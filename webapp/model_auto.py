"""`WHISPER_MODEL=auto`: the best installed model for the hardware a worker runs on.

On a GPU: the first installed in ``RANKING`` (large-v3-turbo > large-v3 > ... > tiny). On a CPU: the first installed
whose estimated real-time factor on the cores present is at most ``CPU_RTF_LIMIT``; the estimate scales the
measured base figure (``BASE_RTF_2_CORES``, see README "Models") by the model's relative cost and by 2/cores.
A pure function of (installed names, device, cores), so it is tested without hardware.
"""
from __future__ import annotations

import os
from collections.abc import Iterable

# best first; a ".en" model right after its multilingual sibling (which also detects the language)
RANKING = ("large-v3-turbo", "large-v3", "large-v2", "distil-large-v3.5", "distil-large-v3", "distil-large-v2",
           "large-v1", "medium", "medium.en", "distil-medium.en", "small", "small.en", "distil-small.en",
           "base", "base.en", "tiny", "tiny.en")
# compute relative to base (74 M parameters), roughly the parameter ratio; turbo and distil keep large's 32-layer
# encoder but have 4 / 2 decoder layers
RELATIVE_COST = {"tiny": 0.5, "base": 1.0, "small": 3.3, "distil-small.en": 2.2, "medium": 10.4,
                 "distil-medium.en": 5.5, "large-v1": 21.0, "large-v2": 21.0, "large-v3": 21.0,
                 "large-v3-turbo": 12.0, "distil-large-v2": 11.0, "distil-large-v3": 11.0, "distil-large-v3.5": 11.0}
BASE_RTF_2_CORES = 0.12  # measured: transcription with word times, int8, warm, 2 cores (README "Models")
CPU_RTF_LIMIT = 0.5  # half of real time: headroom for alignment, speakers and sub-linear scaling over cores


def cost(name: str) -> float:
    return RELATIVE_COST.get(name.removesuffix(".en"), RELATIVE_COST.get(name, 21.0))


def estimated_rtf(name: str, cores: int) -> float:
    """Seconds of CPU work per second of audio for ``name`` on ``cores`` cores (int8)."""
    return BASE_RTF_2_CORES * cost(name) * 2 / max(cores, 1)


def choose(installed: Iterable[str], device: str, cores: int) -> str | None:
    """The model `auto` means here, or None when no ranked model is installed."""
    have = [n for n in RANKING if n in set(installed)]
    if not have:
        return None
    if device == "cuda":
        return have[0]
    fast_enough = [n for n in have if estimated_rtf(n, cores) <= CPU_RTF_LIMIT]
    return fast_enough[0] if fast_enough else min(have, key=cost)


def cores_here() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def device_here(device: str = "auto") -> str:
    """WHISPER_DEVICE resolved: "auto" asks CTranslate2 (no torch import) whether a GPU is present."""
    if device != "auto":
        return device
    try:
        import ctranslate2

        return "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"
    except (ImportError, RuntimeError, OSError):  # no CTranslate2 (a web-only image) or no CUDA driver
        return "cpu"


HINTS = {"tiny": "fastest, least accurate", "base": "fast, fair accuracy", "small": "balanced",
         "medium": "accurate, slow on a CPU", "large": "most accurate, needs a GPU",
         "large-v3-turbo": "accurate and fast on a GPU", "distil": "fast large model, English best"}


def hint(name: str) -> str:
    """A few words on speed against accuracy, for the upload form."""
    if name == "auto":
        return "best installed for the worker's hardware"
    plain = name.removesuffix(".en")
    for key in (plain, plain.split("-")[0]):
        if key in HINTS:
            return HINTS[key] + (", English only" if name.endswith(".en") else "")
    return ""
