"""``GET /metrics``: Prometheus text exposition, only with ``Authorization: Bearer $METRICS_TOKEN`` (404 when no
token is configured, so an unconfigured server does not even admit to having metrics)."""
from __future__ import annotations

from flask import Blueprint, Response, abort, current_app, request
from prometheus_client import CONTENT_TYPE_LATEST

from webapp import metrics

bp = Blueprint("metrics", __name__)


@bp.get("/metrics")
def metrics_page():
    token = current_app.config["SCRIPTORIUM"].metrics_token
    if not token:
        abort(404)
    if not metrics.token_ok(request.headers.get("Authorization"), token):
        return Response("a valid metrics token is required (Authorization: Bearer <METRICS_TOKEN>)\n", 401,
                        {"WWW-Authenticate": 'Bearer realm="metrics"'}, mimetype="text/plain")
    return Response(metrics.exposition([metrics.StateCollector(current_app._get_current_object())]),
                    mimetype=CONTENT_TYPE_LATEST)
