"""/metrics under real gunicorn with several workers (prometheus_client multiprocess mode): whichever worker
answers the scrape, it counts the requests every worker answered."""
from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import requests
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "gunicorn-metrics-token"


def healthz_count(text: str) -> float:
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == "scriptorium_http_requests_total" and s.labels.get("endpoint") == "health.healthz":
                return s.value
    return 0.0


def test_every_gunicorn_worker_is_counted(test_env, app, tmp_path):
    from scriptorium.embedded import free_port
    from scriptorium.web import gunicorn_argv

    port = free_port()
    env = {**os.environ, **test_env, "PYTHONPATH": str(ROOT), "METRICS_TOKEN": TOKEN,
           "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prom")}
    proc = subprocess.Popen(gunicorn_argv(f"127.0.0.1:{port}", 3), cwd=ROOT, env=env,
                            stdout=open(tmp_path / "gunicorn.log", "wb"), stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(base + "/healthz", timeout=10).status_code == 200:
                    break
            except (requests.ConnectionError, requests.Timeout):
                pass
            assert time.monotonic() < deadline and proc.poll() is None, (tmp_path / "gunicorn.log").read_text()[-3000:]
            time.sleep(0.2)
        def scrape() -> float:
            with requests.Session() as s:
                resp = s.get(base + "/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
            assert resp.status_code == 200
            return healthz_count(resp.text)

        before = scrape()
        assert before >= 1
        for _ in range(30):  # a new connection each: the workers share them out
            with requests.Session() as s:
                assert s.get(base + "/healthz", timeout=5).status_code == 200
        counts = {scrape() for _ in range(8)}
        assert counts == {before + 30}  # every worker's requests, whichever worker answered each scrape
        assert len({p.name.rsplit("_", 1)[-1] for p in (tmp_path / "prom").glob("counter_*.db")}) >= 1
    finally:
        proc.terminate()
        proc.wait(20)
