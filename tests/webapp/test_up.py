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


def _bindable(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def test_up_with_two_workers_shares_a_long_recording(scratch_dir, speech):
    """`scriptorium up --workers 2`: two worker processes, each serving its own metrics port, and a recording
    longer than CHUNK_MINUTES is split into parts that both of them take."""
    import wave

    import numpy as np
    from sqlalchemy import create_engine, text

    from webapp import settings as settings_mod
    from worker.audio import load_audio

    sentences = ["The harbour master counted eleven ships before the storm arrived in the evening.",
                 "Engineers inspected the railway bridge and found the bolts were badly rusted.",
                 "The museum bought a painting of a lighthouse from a collector in Lisbon."]
    clips = [load_audio(speech(s, "en-us", name=f"up-long-{i}.wav")) for i, s in enumerate(sentences)]
    gap = np.zeros(11200, dtype=np.float32)  # 0.7 s
    audio = np.concatenate([x for _ in range(4) for c in clips for x in (c, gap)])  # ~65 s: three 30 s chunks
    path = scratch_dir / "up-long.wav"
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1), out.setsampwidth(2), out.setframerate(16000)
        out.writeframes((audio * 32767).astype("<i2").tobytes())

    data = scratch_dir / "up-two-data"
    web_port = free_port()
    # worker 2 serves on the next port, the ingester on the one after
    metrics_port = next(p for p in iter(free_port, None) if _bindable(p + 1) and _bindable(p + 2))
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "S3_ENDPOINT")}
    env.update(SCRIPTORIUM_DATA_DIR=str(data), SCRIPTORIUM_PG_PORT=str(free_port()),
               SCRIPTORIUM_REDIS_PORT=str(free_port()), WHISPER_MODEL="tiny.en", CHUNK_MINUTES="0.25",
               METRICS_PORT=str(metrics_port), METRICS_TOKEN="metrics-token-for-the-test",
               SCRIPTORIUM_ADMIN_TOKEN="scr_test-token-for-automation", PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "scriptorium.cli", "up", "--port", str(web_port), "--workers", "2"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    api = f"http://127.0.0.1:{web_port}/api/v1/transcripts"
    bearer = {"Authorization": "Bearer scr_test-token-for-automation"}
    try:
        deadline = time.monotonic() + 120
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if "press Ctrl-C" in line or time.monotonic() > deadline:
                break
        assert any("ready at" in line for line in lines), "".join(lines)
        workers = [p for p in psutil.Process(proc.pid).children(recursive=True) if _is_worker(p)]
        assert len(workers) == 2
        assert {p.environ().get("WORKER_THREADS") for p in workers} == {str(max(1, (os.cpu_count() or 1) // 2))}

        boundary = "scriptorium-test-boundary"
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"up-long.wav\"\r\n"
                f"Content-Type: audio/wav\r\n\r\n").encode() + path.read_bytes() + f"\r\n--{boundary}--\r\n".encode()
        req = urllib.request.Request(api, data=body, method="POST", headers={
            **bearer, "Content-Type": f"multipart/form-data; boundary={boundary}"})
        with urllib.request.urlopen(req, timeout=30) as resp:
            tid = json.loads(resp.read())["id"]
        deadline = time.monotonic() + 300
        while True:
            with urllib.request.urlopen(urllib.request.Request(f"{api}/{tid}", headers=bearer), timeout=5) as resp:
                item = json.loads(resp.read())
            if item["status"] not in ("queued", "running") or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert item["status"] == "done", item
        assert item["parts"]["total"] >= 2 and item["parts"]["done"] == item["parts"]["total"], item["parts"]

        settings = settings_mod.load(env)
        engine = create_engine(settings.database_url)
        with engine.connect() as conn:
            took = set(conn.scalars(text("SELECT DISTINCT worker FROM transcript_parts WHERE transcript_id = :t"),
                                    {"t": tid}))
        engine.dispose()
        assert len(took) == 2, took  # both workers took parts

        for port in (metrics_port, metrics_port + 1, metrics_port + 2):  # each worker and the ingester: its own
            req = urllib.request.Request(f"http://127.0.0.1:{port}/metrics",
                                         headers={"Authorization": "Bearer metrics-token-for-the-test"})
            with urllib.request.urlopen(req, timeout=5) as resp:
                assert resp.status == 200 and b"scriptorium_" in resp.read()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)
    assert proc.returncode == 0
