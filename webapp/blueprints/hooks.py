"""Incoming notifications from other services: MinIO bucket events at ``POST /hooks/minio``.

Authenticated with ``Authorization: Bearer $MINIO_WEBHOOK_TOKEN`` (compared in constant time). Without a
configured token the hook is off and answers 503, so a MinIO pointed at it keeps (and later re-sends) its events
instead of losing them.

The hook does no work on the objects: it checks the shape, drops events that are not for us, and queues the rest
on a Redis list (``webapp.bucket_events.HOOK_EVENTS_KEY``) that the ingest role consumes, then answers 202 at
once. Downloading, probing and submitting happen there, with the ledger making a re-delivered event one job and
transient failures retried. Every answer, errors included, is JSON.
"""
from __future__ import annotations

import hmac
import logging

from flask import Blueprint, current_app, request
from werkzeug.exceptions import HTTPException

from webapp import queue
from webapp.bucket_events import HOOK_EVENTS_KEY, EventFormatError, from_webhook, ignore_reason, to_redis_access

bp = Blueprint("hooks", __name__, url_prefix="/hooks")
log = logging.getLogger("scriptorium.web")


def _authorised(token: str) -> bool:
    scheme, _, raw = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(raw.strip().encode(), token.encode())


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException):
    return {"error": exc.description or exc.name}, exc.code


@bp.errorhandler(Exception)
def _unexpected(exc: Exception):
    log.exception("MinIO hook failed")
    return {"error": "the event could not be accepted; deliver it again later"}, 500


@bp.post("/minio")
def minio():
    settings = current_app.config["SCRIPTORIUM"]
    if not settings.minio_webhook_token:
        return {"error": "the MinIO webhook is off: set MINIO_WEBHOOK_TOKEN to turn it on"}, 503
    if not _authorised(settings.minio_webhook_token):
        return {"error": "a valid token is required (Authorization: Bearer <MINIO_WEBHOOK_TOKEN>)"}, 401, {
            "WWW-Authenticate": 'Bearer realm="scriptorium-hooks"'}
    payload = request.get_json(silent=True)
    if payload is None:
        return {"error": "the body is not JSON (send MinIO's notification with Content-Type: application/json)"}, 400
    try:
        events = from_webhook(payload)
    except EventFormatError as exc:
        return {"error": str(exc)}, 400
    answers, wanted = [], []
    for ev in events:
        reason = ignore_reason(ev, settings)
        if reason is None:
            wanted.append(ev)
        answers.append({"bucket": ev.bucket, "key": ev.key, "action": "ignored" if reason else "queued",
                        "detail": reason or ""})
    if wanted:
        try:
            queue.connection().rpush(HOOK_EVENTS_KEY, to_redis_access(wanted))
        except Exception as exc:  # Redis down: MinIO keeps the event and sends it again
            log.warning("could not queue a MinIO event: %s: %s", type(exc).__name__, exc)
            return {"error": "the event queue is unavailable; deliver the event again later"}, 503
    return {"events": answers}, 202
