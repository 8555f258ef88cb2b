"""The dependency rule (README, "Layout"): worker/ and ingest/ use webapp/ (the domain); webapp/ never imports
worker/, ingest/, scriptorium/ (the composition root) or the speech stack; worker/ and ingest/ never import
scriptorium/. Each package is imported alone in a fresh interpreter, so nothing another test imported can hide
an edge, and we look at what ended up in ``sys.modules``.
"""
from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ROLES_AND_SPEECH = ("worker", "ingest", "scriptorium", "torch", "whisperx", "faster_whisper", "pyannote")

# Imports every module of the packages named in argv[2:] (webapp also builds an app, as gunicorn does), then
# prints which of the names in argv[1] ended up imported. argv[1] is a JSON object: {"skip": [...], "app": bool}.
PROBE = r"""
import importlib, json, pkgutil, sys, tempfile
opts = json.loads(sys.argv[1])
for package in opts["packages"]:
    root = importlib.import_module(package)
    for info in pkgutil.walk_packages(root.__path__, package + "."):
        if info.name not in opts["skip"]:
            importlib.import_module(info.name)
if opts["app"]:
    from webapp import create_app, settings
    with tempfile.TemporaryDirectory() as data:
        create_app(settings=settings.load({"SCRIPTORIUM_DATA_DIR": data}))
print(json.dumps(sorted({name.split(".")[0] for name in sys.modules})))
"""


@functools.lru_cache(maxsize=None)  # one interpreter per question, however many tests ask it
def imported_after(packages: tuple[str, ...], skip: tuple[str, ...] = (), app: bool = False) -> frozenset[str]:
    """Top-level names in ``sys.modules`` after importing every module of ``packages`` in a new interpreter."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    opts = json.dumps({"packages": packages, "skip": list(skip), "app": app})
    proc = subprocess.run([sys.executable, "-c", PROBE, opts], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return frozenset(json.loads(proc.stdout.strip().splitlines()[-1]))


def test_webapp_modules_import_no_role_and_no_speech():
    """Every webapp module, imported alone, pulls in no role and no speech stack."""
    offenders = imported_after(("webapp",)) & set(ROLES_AND_SPEECH)
    assert not offenders, f"webapp pulls in {sorted(offenders)}"


def test_the_web_app_as_gunicorn_builds_it_imports_no_role_and_no_speech():
    offenders = imported_after(("webapp",), app=True) & set(ROLES_AND_SPEECH)
    assert not offenders, f"webapp (create_app and every module) pulls in {sorted(offenders)}"


@pytest.mark.parametrize("package", ["worker", "ingest"])
def test_roles_do_not_import_the_composition_root(package):
    imported = imported_after((package,))
    assert "webapp" in imported  # they use the domain...
    assert "scriptorium" not in imported, f"{package} imports scriptorium/"  # ...and never the shell around them


def test_ingest_does_not_load_the_speech_stack():
    """The ingest role runs on machines without torch: it hands files to the queue, never to the pipeline."""
    offenders = imported_after(("ingest",)) & {"torch", "whisperx", "faster_whisper", "pyannote"}
    assert not offenders, f"ingest pulls in {sorted(offenders)}"
