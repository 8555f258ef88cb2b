"""Incoming notifications from other services: MinIO bucket events at ``POST /hooks/minio``.

Authenticated with ``Authorization: Bearer $MINIO_WEBHOOK_TOKEN`` (compared in constant time). Without a
configured token the hook is off and answers 503, so a MinIO pointed at it keeps (and later re-sends) its events
instead of losing them. The work itself is in ``ingest.bucket``.
"""
from __future__ import annotations

import hmac

from flask import Blueprint, current_app, request

from ingest import bucket
from webapp.bucket_events import EventFormatError, from_webhook

bp = Blueprint("hooks", __name__, url_prefix="/hooks")


def _authorised(token: str) -> bool:
    scheme, _, raw = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(raw.strip().encode(), token.encode())


@bp.post("/minio")
def minio():
    settings = current_app.config["SCRIPTORIUM"]
    if not settings.minio_webhook_token:
        return {"error": "the MinIO webhook is off: set MINIO_WEBHOOK_TOKEN to turn it on"}, 503
    if not _authorised(settings.minio_webhook_token):
        return {"error": "a valid token is required (Authorization: Bearer <MINIO_WEBHOOK_TOKEN>)"}, 401, {
            "WWW-Authenticate": 'Bearer realm="scriptorium-hooks"'}
    try:
        events = from_webhook(request.get_json(silent=True))
        outcomes = bucket.handle(events, settings)
    except EventFormatError as exc:
        return {"error": str(exc)}, 400
    except bucket.NotConfigured as exc:
        return {"error": str(exc)}, 503
    except bucket.TransientError as exc:
        return {"error": f"{exc}; deliver the event again later"}, 503
    return {"events": [o.as_dict() for o in outcomes]}, 200
