"""`scriptorium submit` against a live server: the web role (gunicorn) on a free port and a `scriptorium worker`
process, both real, on the test PostgreSQL, Redis and S3. The client runs as a subprocess and is judged by what
it writes, prints and returns, compared with what the server itself serves."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from types import SimpleNamespace

import pytest
import requests
from click.testing import CliRunner

from cliutil import cli_env, run_cli

TALK = "The library opens early on weekdays and closes late on Fridays."
OTHER = "Here is my card, and this is my passport from last year."


def _words(text: str) -> set[str]:
    return set(re.sub(r"[^a-z ]+", " ", text.lower()).split())


def _empty(app) -> None:
    """What the per-test `app` fixture does, once for this module: empty tables, queue and bucket."""
    from sqlalchemy import text

    from webapp import queue
    from webapp.extensions import db
    from webapp.storage import from_settings

    with app.app_context():
        db.session.execute(text(f"TRUNCATE {', '.join(t.name for t in db.metadata.sorted_tables)} "
                                "RESTART IDENTITY CASCADE"))
        db.session.commit()
        queue.connection().flushdb()
        store = from_settings(app.config["SCRIPTORIUM"])
        for obj in store.client.list_objects(store.bucket, recursive=True):
            store.client.remove_object(store.bucket, obj.object_name)
        db.session.remove()


@pytest.fixture(scope="module")
def live(_session_app, test_env, scratch_dir):
    """http://127.0.0.1:<port> served by `scriptorium web`, jobs run by `scriptorium worker`; a user's token."""
    from scriptorium.embedded import free_port
    from webapp.services.accounts import create_user

    _empty(_session_app)
    with _session_app.app_context():
        _, token = create_user("submitter")
    port = free_port()
    env = cli_env(**test_env, PYTHONUNBUFFERED="1", MAX_UPLOAD_MB="1")
    logs = {name: open(scratch_dir / f"submit-{name}.log", "w") for name in ("web", "worker")}
    procs = {
        "web": subprocess.Popen([sys.executable, "-m", "scriptorium.cli", "web", "--bind", f"127.0.0.1:{port}",
                                 "--workers", "1"], env=env, stdout=logs["web"], stderr=subprocess.STDOUT),
        "worker": subprocess.Popen([sys.executable, "-m", "scriptorium.cli", "worker"], env=env,
                                   stdout=logs["worker"], stderr=subprocess.STDOUT),
    }
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert procs["web"].poll() is None, (scratch_dir / "submit-web.log").read_text()
            try:
                if requests.get(f"{url}/healthz", timeout=5).status_code == 200:
                    break
            except requests.RequestException:  # not listening yet, or still starting up
                pass
            assert time.monotonic() < deadline, (scratch_dir / "submit-web.log").read_text()
            time.sleep(0.2)
        yield SimpleNamespace(url=url, token=token, env=cli_env(SCRIPTORIUM_TOKEN=token),
                              auth={"Authorization": f"Bearer {token}"})
    finally:
        for proc in procs.values():
            proc.terminate()
        for proc in procs.values():
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for log in logs.values():
            log.close()


def test_submit_writes_what_the_server_exports_and_finds_the_same_transcript_again(live, tmp_path, speech):
    clip = shutil.copy(speech(TALK), tmp_path / "talk.wav")
    done = run_cli("submit", clip, "--url", live.url, "-f", "srt,txt", "--progress", "json", env=live.env)
    assert done.returncode == 0, done.stderr
    events = [json.loads(line) for line in done.stderr.splitlines()]
    assert events[-1]["event"] == "done", events
    tid = events[-1]["id"]
    assert any(e["event"] == "progress" and e["stage"] == "upload" and e["percent"] == 100 for e in events)
    assert events[-2] == {"event": "progress", "file": str(clip), "stage": "done", "percent": 100, "fraction": 1.0,
                          "id": tid}

    server = requests.get(f"{live.url}/api/v1/transcripts/{tid}/export.srt", headers=live.auth, timeout=10)
    assert server.status_code == 200
    assert (tmp_path / "talk.srt").read_bytes() == server.content  # byte for byte the server's own export
    assert len(_words(TALK) & _words((tmp_path / "talk.txt").read_text())) >= 0.7 * len(_words(TALK))

    # Run again: its outputs exist, so nothing is sent.
    again = run_cli("submit", clip, "--url", live.url, "-f", "srt,txt", env=live.env)
    assert again.returncode == 0 and "talk.wav: skipped, its outputs exist" in again.stderr, again.stderr
    # Sent again without waiting: the server answers with the transcript it already has.
    nowait = run_cli("submit", clip, "--url", live.url, "--no-wait", "--quiet", env=live.env)
    assert nowait.returncode == 0, nowait.stderr
    assert nowait.stdout.split() == [str(tid)]
    listed = requests.get(f"{live.url}/api/v1/transcripts", headers=live.auth, timeout=10).json()["items"]
    assert [t["id"] for t in listed] == [tid]


def test_bad_files_fail_with_their_reasons_while_the_good_one_is_written(live, tmp_path, speech):
    shutil.copy(speech(OTHER), tmp_path / "carte d’identité.wav")  # a name to send as UTF-8, with a space
    (tmp_path / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt " + bytes(range(256)) * 40)
    (tmp_path / "huge.wav").write_bytes(b"\0" * (2 << 20))  # the live server takes 1 MB (MAX_UPLOAD_MB=1)
    out = tmp_path / "out"
    done = run_cli("submit", tmp_path, "--url", live.url, "-f", "vtt", "-o", out, env=live.env)
    assert done.returncode == 1, done.stderr
    assert re.search(r"error: \S*broken\.wav: (not an audio or video file|the file is truncated or corrupt|"
                     r"the file has no audio track)", done.stderr), done.stderr
    assert re.search(r"error: \S*huge\.wav: .*(larger than the upload limit|larger than its upload limit)",
                     done.stderr), done.stderr
    assert "2 of 3 files failed" in done.stderr
    assert sorted(p.name for p in out.iterdir()) == ["carte d’identité.vtt"]
    assert (out / "carte d’identité.vtt").read_text().startswith("WEBVTT")
    listed = requests.get(f"{live.url}/api/v1/transcripts", headers=live.auth, timeout=10).json()["items"]
    assert "carte d’identité.wav" in {t["filename"] for t in listed}


def test_a_refused_token_says_how_to_get_one(live, tmp_path, speech):
    clip = shutil.copy(speech(TALK), tmp_path / "talk.wav")
    done = run_cli("submit", clip, "--url", live.url, "--token", "scr_not-a-token", env=cli_env())
    assert done.returncode == 1
    assert "refused the API token" in done.stderr and "scriptorium users create" in done.stderr
    assert not (tmp_path / "talk.txt").exists()


def test_an_unreachable_server_and_a_missing_token(tmp_path):
    from scriptorium.cli import main
    from scriptorium.embedded import free_port

    (tmp_path / "a.wav").write_bytes(b"RIFF")
    url = f"http://127.0.0.1:{free_port()}"
    runner = CliRunner()
    result = runner.invoke(main, ["submit", str(tmp_path / "a.wav"), "--url", url, "--token", "t"])
    assert result.exit_code == 1
    assert f"cannot reach {url}: is `scriptorium up` running?" in result.output
    result = runner.invoke(main, ["submit", str(tmp_path / "a.wav"), "--url", url], env={"SCRIPTORIUM_TOKEN": ""})
    assert result.exit_code == 2 and "an API token is needed" in result.output
