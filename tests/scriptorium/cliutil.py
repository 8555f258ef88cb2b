"""Running the `scriptorium` command as a user would: a subprocess of this worktree's code, or (where a test is
not about the process boundary) the same command line in this process, so the model loads once per session."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CLI_VARS = dict(WHISPER_MODEL="tiny.en", WHISPER_DEVICE="cpu", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
                PYANNOTE_METRICS_ENABLED="false")
UNSET = ("SCRIPTORIUM_TOKEN", "SCRIPTORIUM_URL")


def cli_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT), **CLI_VARS)
    for key in UNSET:
        env.pop(key, None)
    env.update(extra)
    return env


def run_cli(*args: object, env: dict[str, str] | None = None, cwd: Path | None = None,
            timeout: float = 300) -> subprocess.CompletedProcess:
    """`scriptorium ARGS...` with stdout and stderr captured (so stderr is not a terminal)."""
    return subprocess.run([sys.executable, "-m", "scriptorium.cli", *map(str, args)], env=env or cli_env(),
                          cwd=cwd, capture_output=True, text=True, timeout=timeout)


def run_cli_here(capfd, monkeypatch, *args: object) -> subprocess.CompletedProcess:
    """`scriptorium ARGS...` run by the same entry point in this process, with the environment `run_cli` gives
    and everything written to file descriptors 1 and 2 captured (C libraries included), as a subprocess's would
    be. Python warnings and log records go to pytest here, not to stderr: a test about a clean stderr runs the
    command with `run_cli`."""
    from scriptorium.cli import main

    for key, value in CLI_VARS.items():
        monkeypatch.setenv(key, value)
    for key in UNSET:
        monkeypatch.delenv(key, raising=False)
    capfd.readouterr()  # what earlier steps of the test wrote is not this command's
    try:
        main.main(args=[str(a) for a in args], prog_name="scriptorium", standalone_mode=True)
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    out, err = capfd.readouterr()
    return subprocess.CompletedProcess(["scriptorium", *map(str, args)], code, out, err)
