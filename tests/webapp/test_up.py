"""`scriptorium up`: everything on one machine from nothing, then stopped with nothing left running."""
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil

from scriptorium.embedded import free_port


def _get(url: str):
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.status, json.loads(resp.read())
    except Exception:
        return None, None


def _is_worker(p: psutil.Process) -> bool:
    try:
        return "worker" in p.cmdline()
    except psutil.Error:  # exited, or a zombie not yet reaped by the supervisor
        return False


def _still_running(procs: list[psutil.Process]) -> list[psutil.Process]:
    alive = []
    for p in procs:
        try:
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                alive.append(p)
        except psutil.NoSuchProcess:  # gone between the two calls
            pass
    return alive


def test_the_web_role_has_one_gunicorn_command_line(monkeypatch, tmp_path):
    """`scriptorium web` (what the Dockerfile, compose and `up` run) execs the argv of scriptorium/web.py."""
    from click.testing import CliRunner

    from scriptorium import cli
    from scriptorium.web import gunicorn_argv

    started = []
    monkeypatch.setattr(cli.os, "execvp", lambda exe, argv: started.append(argv))  # the exec boundary only
    env = {"SCRIPTORIUM_DATA_DIR": str(tmp_path), "BIND": "127.0.0.1:9123", "WEB_WORKERS": "3"}
    result = CliRunner().invoke(cli.main, ["web"], env=env)
    assert result.exit_code == 0, result.output
    assert started == [gunicorn_argv("127.0.0.1:9123", 3)]
    argv = started[0]
    assert argv[1:3] == ["-m", "gunicorn"] and argv[-1] == "wsgi:app"
    assert argv[argv.index("--timeout") + 1] == "60" and argv[argv.index("--threads") + 1] == "4"
    result = CliRunner().invoke(cli.main, ["web", "--bind", "0.0.0.0:80", "--workers", "1"], env=env)
    assert started[-1] == gunicorn_argv("0.0.0.0:80", 1)


def test_up_serves_and_stops_cleanly(scratch_dir):
    data = scratch_dir / "up-data"
    web_port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "S3_ENDPOINT")}
    env.update(SCRIPTORIUM_DATA_DIR=str(data), SCRIPTORIUM_PG_PORT=str(free_port()),
               SCRIPTORIUM_REDIS_PORT=str(free_port()), WHISPER_MODEL="tiny.en",
               SCRIPTORIUM_ADMIN_TOKEN="scr_test-token-for-automation", PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "scriptorium.cli", "up", "--port", str(web_port)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    try:
        deadline = time.monotonic() + 120
        for line in proc.stdout:
            lines.append(line)
            if "press Ctrl-C" in line or time.monotonic() > deadline:
                break
        out = "".join(lines)
        assert "ready at http://127.0.0.1:%d/" % web_port in out, out
        assert "sign in as 'admin' with password:" in out  # first start: a generated password, shown once
        status, body = _get(f"http://127.0.0.1:{web_port}/healthz")
        assert status == 200 and body["status"] == "ok", body
        # the automation token works against the API
        req = urllib.request.Request(f"http://127.0.0.1:{web_port}/api/v1/transcripts",
                                     headers={"Authorization": "Bearer scr_test-token-for-automation"})
        with urllib.request.urlopen(req, timeout=5) as resp:
            assert json.loads(resp.read())["items"] == []
        family = psutil.Process(proc.pid).children(recursive=True)
        assert any("gunicorn" in " ".join(p.cmdline()) for p in family)
        workers = [p for p in family if _is_worker(p)]
        assert len(workers) == 1
        # a role that dies is started again
        workers[0].kill()
        deadline = time.monotonic() + 30
        while True:
            family = psutil.Process(proc.pid).children(recursive=True)
            again = [p for p in family if _is_worker(p) and p.pid != workers[0].pid]
            if again or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert again, "the supervisor did not restart the killed worker"
        pg_pid = int((data / "postgres" / "postmaster.pid").read_text().split()[0])
    finally:
        proc.send_signal(signal.SIGTERM)
        rest = proc.communicate(timeout=60)[0]
    assert proc.returncode == 0, rest
    left = _still_running(family)
    deadline = time.monotonic() + 5  # a child that `up` has stopped may take a moment to be reaped
    while left and time.monotonic() < deadline:
        time.sleep(0.05)
        left = _still_running(family)
    assert left == [], [p.cmdline() for p in left]
    assert not psutil.pid_exists(pg_pid) or psutil.Process(pg_pid).status() == psutil.STATUS_ZOMBIE
    assert not Path(data / "postgres" / "postmaster.pid").exists()
    assert _get(f"http://127.0.0.1:{web_port}/healthz") == (None, None)
