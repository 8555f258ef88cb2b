"""Prometheus metrics: /metrics behind METRICS_TOKEN, parsed with prometheus_client's own parser, with counters
that move when a real job runs; the worker's own port behind the same token."""
from __future__ import annotations

import socket
from dataclasses import replace

import pytest
import requests
from jobhelpers import submit
from prometheus_client.parser import text_string_to_metric_families

TOKEN = "metrics-token-for-tests"


def samples(text: str) -> dict[tuple, float]:
    """{(sample name, sorted labels...): value} from a text exposition."""
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, *sorted(s.labels.items()))] = s.value
    return out


@pytest.fixture
def with_token(app, monkeypatch):
    monkeypatch.setitem(app.config, "SCRIPTORIUM", replace(app.config["SCRIPTORIUM"], metrics_token=TOKEN))


def scrape(client) -> dict[tuple, float]:
    resp = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert resp.status_code == 200 and resp.mimetype == "text/plain"
    return samples(resp.get_data(as_text=True))


def test_metrics_are_off_without_a_token(client):
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", headers={"Authorization": "Bearer anything"}).status_code == 404


def test_metrics_refuse_a_wrong_token(client, with_token):
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/metrics", headers={"Authorization": f"Basic {TOKEN}"}).status_code == 401


def test_counters_move_when_a_job_runs(client, auth, run_jobs, clips, with_token):
    before = scrape(client)
    tid = submit(client, auth, clips.speech, language="en")
    queued = scrape(client)
    assert queued[("scriptorium_jobs", ("status", "queued"))] == 1
    assert queued[("scriptorium_queue_depth", ("queue", "transcribe"))] == 1
    created = ("scriptorium_http_requests_total", ("endpoint", "api.create_transcript"), ("method", "POST"),
               ("status", "201"))
    assert queued[created] == before.get(created, 0) + 1

    run_jobs()
    after = scrape(client)
    assert client.get(f"/api/v1/transcripts/{tid}", headers=auth).get_json()["status"] == "done"
    assert after[("scriptorium_jobs", ("status", "done"))] == 1
    assert after[("scriptorium_jobs", ("status", "queued"))] == 0
    assert after[("scriptorium_queue_depth", ("queue", "transcribe"))] == 0
    done = ("scriptorium_jobs_finished_total", ("outcome", "done"))
    assert after[done] == before.get(done, 0) + 1
    audio = ("scriptorium_audio_processed_seconds_total",)
    assert after[audio] - before.get(audio, 0) > 5  # the clip is ~10 s of speech
    jobs = ("scriptorium_job_duration_seconds_count", ("outcome", "done"))
    assert after[jobs] == before.get(jobs, 0) + 1
    stage = ("scriptorium_stage_duration_seconds_count", ("stage", "transcribe"))
    assert after[stage] == before.get(stage, 0) + 1
    rtf = ("scriptorium_realtime_factor_count",)
    assert after[rtf] == before.get(rtf, 0) + 1
    assert ("scriptorium_workers",) in after  # read from Redis at scrape time (the burst worker has left)


def test_a_worker_port_serves_its_metrics_behind_the_token():
    from webapp import metrics

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert metrics.serve(port, None, addr="127.0.0.1") is None  # no token: nothing is exposed
    server = metrics.serve(port, TOKEN, addr="127.0.0.1")
    try:
        url = f"http://127.0.0.1:{port}/metrics"
        assert requests.get(url, timeout=5).status_code == 401
        assert requests.get(url, headers={"Authorization": "Bearer wrong"}, timeout=5).status_code == 401
        resp = requests.get(url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5)
        assert resp.status_code == 200
        names = {f.name for f in text_string_to_metric_families(resp.text)}
        assert {"scriptorium_jobs_finished", "scriptorium_webhook_deliveries", "scriptorium_ingest_files"} <= names
    finally:
        server.shutdown()
        server.server_close()


def test_ingest_outcomes_are_counted(app):
    from ingest import ledger
    from webapp import metrics

    def value(outcome):
        return metrics.INGEST_FILES.labels(source="folder", outcome=outcome)._value.get()

    before_unsupported, before_submitted = value("unsupported"), value("submitted")
    with app.app_context():
        assert ledger.note_unsupported("folder", "/in/notes.txt", 10, "1", "not an audio or video file (.txt)")
        assert not ledger.note_unsupported("folder", "/in/notes.txt", 10, "1", "again")  # counted once
        row = ledger.claim("folder", "/in/talk.wav", 100, "1")
        ledger.finish(row, "submitted")
    assert value("unsupported") == before_unsupported + 1
    assert value("submitted") == before_submitted + 1


def test_the_grafana_dashboard_uses_only_metrics_that_exist(client, with_token):
    import json
    import re
    from pathlib import Path

    dashboard = json.loads((Path(__file__).resolve().parents[2] / "docs" / "grafana-dashboard.json").read_text())
    used = {re.sub(r"_(bucket|total|count|sum)$", "", name) for p in dashboard["panels"] for t in p["targets"]
            for name in re.findall(r"scriptorium_[a-z_]+", t["expr"])}
    text = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).get_data(as_text=True)
    exposed = {f.name for f in text_string_to_metric_families(text)}
    assert len(used) >= 10 and used <= exposed, used - exposed
