"""Completion webhooks: the JSON API (``/api/v1/webhooks``, bearer token) and the account page's section
(``/account/webhooks``, signed-in session + CSRF). Both ask ``services.webhooks`` and render."""
from __future__ import annotations

from flask import Blueprint, g, redirect, render_template, request, url_for

from webapp import openapi
from webapp.blueprints.api import _require_token
from webapp.blueprints.auth import current_user, login_required
from webapp.errors import DomainError
from webapp.extensions import htmx
from webapp.models.webhook import EVENTS
from webapp.services import accounts
from webapp.services import webhooks as service

api_bp = Blueprint("api_webhooks", __name__, url_prefix="/api/v1")
api_bp.before_request(_require_token)
bp = Blueprint("webhooks", __name__, url_prefix="/account/webhooks")


@api_bp.post("/webhooks")
def create_webhook():
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return {"error": 'send JSON: {"url": "https://...", "events": ["transcript.done", "transcript.failed"]}'}, 400
    hook, secret = service.create(g.user, body.get("url"), body.get("events"))
    return {**service.as_json(hook), "secret": secret}, 201


@api_bp.get("/webhooks")
def list_webhooks():
    return {"items": [service.as_json(h) for h in service.list_for(g.user)]}


@api_bp.delete("/webhooks/<int:webhook_id>")
def delete_webhook(webhook_id: int):
    service.delete(g.user, webhook_id)
    return "", 204


@bp.app_context_processor
def _account_webhooks():
    """The account page's webhook section reads its rows through this (the page itself is the account
    blueprint's)."""
    def account_webhooks():
        user = current_user()
        if user is None:
            return [], []
        return service.list_for(user), service.recent_deliveries(user)
    return {"account_webhooks": account_webhooks, "webhook_events": EVENTS}


def _section(status: int = 200, **kw):
    if htmx:
        return render_template("account/_webhooks.html", **kw), status
    if status >= 400 or kw.get("new_secret"):
        return render_template("account/account.html", tokens=accounts.tokens_of(current_user()), **kw), status
    return redirect(url_for("account.account") + "#webhooks")


@bp.post("")
@login_required
def create():
    """A new webhook from the form; its secret is in this one response."""
    events = request.form.getlist("events") or None
    try:
        hook, secret = service.create(current_user(), request.form.get("url", ""), events)
    except DomainError as exc:
        return _section(422, webhook_error=str(exc))
    return _section(new_secret=secret, new_hook=hook)


@bp.post("/<int:webhook_id>/delete")
@login_required
def delete(webhook_id: int):
    service.delete(current_user(), webhook_id)
    return _section()


openapi.EXTRA_SCHEMAS["Webhook"] = {
    "type": "object", "required": ["id", "url", "events"],
    "properties": {"id": {"type": "integer"}, "url": {"type": "string"},
                   "events": {"type": "array", "items": {"type": "string", "enum": list(EVENTS)}},
                   "created_at": {"type": ["string", "null"]}},
}
openapi.EXTRA_PATHS["/webhooks"] = {
    "get": {"summary": "Your webhooks", "operationId": "listWebhooks",
            "responses": {"200": {"description": "webhooks", "content": {"application/json": {"schema": {
                "type": "object", "required": ["items"],
                "properties": {"items": {"type": "array", "items": {"$ref": "#/components/schemas/Webhook"}}}}}}},
                "401": openapi.UNAUTH}},
    "post": {
        "summary": "Be told when a transcript is done or failed",
        "description": "Each delivery is a POST of `{\"event\", \"transcript\": {\"id\", \"status\", \"title\", "
                       "\"language\", \"duration\", \"error\", \"url\"}}` with `X-Scriptorium-Event`, "
                       "`X-Scriptorium-Delivery` and `X-Scriptorium-Signature: sha256=<hex HMAC-SHA256 of the raw "
                       "body with the secret>`, retried up to 5 times on timeouts and non-2xx answers.",
        "operationId": "createWebhook",
        "requestBody": {"required": True, "content": {"application/json": {"schema": {
            "type": "object", "required": ["url"],
            "properties": {"url": {"type": "string", "maxLength": 2000,
                                   "pattern": "^https?://[A-Za-z0-9._~-]+(:([1-9][0-9]{0,3}|[1-5][0-9]{4}))?([/?#][^\\x00]*)?$",
                                   "description": "http(s) only; loopback, private and link-local targets are "
                                                  "refused unless the server sets WEBHOOK_ALLOW_PRIVATE"},
                           "events": {"type": "array", "minItems": 1,
                                      "items": {"type": "string", "enum": list(EVENTS)}}}}}}},
        "responses": {
            "201": {"description": "created; the secret is shown this once", "content": {"application/json": {
                "schema": {"allOf": [{"$ref": "#/components/schemas/Webhook"}, {
                    "type": "object", "required": ["secret"], "properties": {"secret": {"type": "string"}}}]}}}},
            "400": openapi._err("bad URL or events, or a loopback/private target (WEBHOOK_ALLOW_PRIVATE)"),
            "401": openapi.UNAUTH},
    },
}
openapi.EXTRA_PATHS["/webhooks/{webhook_id}"] = {
    "delete": {"summary": "Remove a webhook", "operationId": "deleteWebhook",
               "parameters": [{**openapi.ID, "name": "webhook_id"}],
               "responses": {"204": {"description": "removed"}, "401": openapi.UNAUTH,
                             "404": openapi._err("no such webhook, or not yours")}},
}
