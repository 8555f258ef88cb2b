"""Small helpers the job tests share (imported by name: pytest puts this folder on sys.path)."""
from __future__ import annotations

from pathlib import Path


def submit(client, auth: dict, path: Path, **form) -> int:
    """Upload ``path`` through the API and return the new transcript's id."""
    with open(path, "rb") as fh:
        resp = client.post("/api/v1/transcripts", data={"file": (fh, path.name), **form}, headers=auth,
                           content_type="multipart/form-data")
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()["id"]
