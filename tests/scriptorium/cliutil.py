"""Running the `scriptorium` command as a user would: a subprocess of this worktree's code."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def cli_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT), WHISPER_MODEL="tiny.en", WHISPER_DEVICE="cpu",
               HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PYANNOTE_METRICS_ENABLED="false")
    for key in ("SCRIPTORIUM_TOKEN", "SCRIPTORIUM_URL"):
        env.pop(key, None)
    env.update(extra)
    return env


def run_cli(*args: object, env: dict[str, str] | None = None, cwd: Path | None = None,
            timeout: float = 300) -> subprocess.CompletedProcess:
    """`scriptorium ARGS...` with stdout and stderr captured (so stderr is not a terminal)."""
    return subprocess.run([sys.executable, "-m", "scriptorium.cli", *map(str, args)], env=env or cli_env(),
                          cwd=cwd, capture_output=True, text=True, timeout=timeout)
