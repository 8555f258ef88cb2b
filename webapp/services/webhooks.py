"""Completion webhooks: register, list and remove an account's webhooks; turn a finished transcript into queued
deliveries; the rules every delivery follows (who may be a target, how a body is signed).

The web request only writes rows; the POSTs themselves are sent by a worker job (``worker.webhooks.deliver``).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import logging
import secrets
import socket
import uuid
from typing import Any
from urllib.parse import urlsplit

from cryptography.fernet import Fernet, InvalidToken
from flask import current_app
from flask_babel import gettext as _
from rq import Queue, Retry
from sqlalchemy import select

from webapp import queue as queue_mod
from webapp.errors import Invalid, NotFound
from webapp.extensions import db
from webapp.models import Transcript, User, Webhook, WebhookDelivery
from webapp.models.webhook import EVENTS

log = logging.getLogger("scriptorium.webhooks")

QUEUE_NAME = "webhooks"
TASK = "worker.webhooks.deliver"
MAX_ATTEMPTS = 5
BACKOFF_S = [10, 60, 300, 1800]  # waits before attempts 2..5 (RQ Retry intervals, run by the worker's scheduler)
MAX_PER_ACCOUNT = 20


class TargetRefused(Invalid):
    """The URL points somewhere this server must not send requests to."""


def _fernet() -> Fernet:
    """The key for stored webhook secrets, derived from SECRET_KEY (so rotating SECRET_KEY invalidates them)."""
    key = hashlib.sha256(b"scriptorium webhook secrets\0" + current_app.config["SECRET_KEY"].encode()).digest()
    return Fernet(base64.urlsafe_b64encode(key))


def secret_of(hook: Webhook) -> str:
    try:
        return _fernet().decrypt(hook.secret_enc.encode()).decode()
    except InvalidToken:
        raise Invalid("the webhook's secret cannot be read (was SECRET_KEY changed?); create the webhook again") \
            from None


def sign(secret: str, body: bytes) -> str:
    """The ``X-Scriptorium-Signature`` value: ``sha256=<hex HMAC-SHA256 of the raw body>``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _refused_address(addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    mapped = getattr(addr, "ipv4_mapped", None)
    if mapped is not None:
        addr = mapped
    return not addr.is_global or addr.is_multicast


def check_url(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of a webhook URL, or Invalid with the reason."""
    if not isinstance(url, str) or len(url) > 2000 or "\x00" in url:
        raise Invalid(_("url must be an http:// or https:// URL of at most 2000 characters"))
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Invalid(_("url must be an http:// or https:// URL with a host"))
    if parts.username or parts.password:
        raise Invalid(_("url must not carry a user name or password"))
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise Invalid(_("url has a port that is not a number from 1 to 65535")) from None
    return parts.scheme, parts.hostname, port


def resolve_target(host: str, port: int, allow_private: bool) -> list[str]:
    """Every address ``host`` resolves to, now; TargetRefused if any is loopback, private, link-local or otherwise
    not on the public internet (unless ``allow_private``). Checking every address, at delivery time, and then
    connecting to one of these very addresses is what keeps DNS rebinding from reaching the inside."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise Invalid(f"the webhook host {host} cannot be resolved ({exc})") from None
    addrs = list(dict.fromkeys(info[4][0] for info in infos))
    if not allow_private:
        bad = [a for a in addrs if _refused_address(ipaddress.ip_address(a.split("%")[0]))]
        if bad:
            # the address itself is not told: the delivery log must not become a way to map the inside
            raise TargetRefused(f"the webhook host {host} resolves to a loopback, private or link-local address; "
                                "set WEBHOOK_ALLOW_PRIVATE=true to allow such targets")
    return addrs


def _literal_refused(host: str, allow_private: bool) -> None:
    """At creation: refuse what is private without asking DNS (literal addresses, localhost)."""
    if allow_private:
        return
    try:
        addr = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        if host.lower() == "localhost" or host.lower().endswith(".localhost"):
            raise TargetRefused(_("the webhook host is this machine (localhost); "
                                  "set WEBHOOK_ALLOW_PRIVATE=true to allow such targets")) from None
        return
    if _refused_address(addr):
        raise TargetRefused(_("the webhook address %(addr)s is loopback, private or link-local; "
                              "set WEBHOOK_ALLOW_PRIVATE=true to allow such targets", addr=str(addr)))


def create(user: User, url: Any, events: Any) -> tuple[Webhook, str]:
    """A new webhook and its signing secret (returned this once; stored encrypted)."""
    if events is None:
        events = list(EVENTS)
    if not isinstance(events, list) or not events or any(e not in EVENTS for e in events):
        raise Invalid(_("events must be a non-empty list of %(events)s", events=", ".join(EVENTS)))
    _scheme, host, _port = check_url(url)
    _literal_refused(host, current_app.config["SCRIPTORIUM"].webhook_allow_private)
    count = db.session.scalar(select(db.func.count()).select_from(Webhook).where(Webhook.user_id == user.id))
    if count >= MAX_PER_ACCOUNT:
        raise Invalid(_("an account can have at most %(max)s webhooks", max=MAX_PER_ACCOUNT))
    secret = "whsec_" + secrets.token_urlsafe(32)
    hook = Webhook(user_id=user.id, url=url.strip(), events=list(dict.fromkeys(events)),
                   secret_enc=_fernet().encrypt(secret.encode()).decode())
    db.session.add(hook)
    db.session.commit()
    return hook, secret


def list_for(user: User) -> list[Webhook]:
    return list(db.session.scalars(select(Webhook).where(Webhook.user_id == user.id).order_by(Webhook.id)))


def delete(user: User, webhook_id: int) -> None:
    hook = db.session.get(Webhook, webhook_id)
    if hook is None or hook.user_id != user.id:
        raise NotFound(_("no such webhook"))
    db.session.delete(hook)
    db.session.commit()


def recent_deliveries(user: User, limit: int = 20) -> list[WebhookDelivery]:
    return list(db.session.scalars(
        select(WebhookDelivery).join(Webhook).where(Webhook.user_id == user.id)
        .order_by(WebhookDelivery.id.desc()).limit(limit)))


def as_json(hook: Webhook) -> dict[str, Any]:
    return {"id": hook.id, "url": hook.url, "events": hook.events,
            "created_at": hook.created_at.isoformat() if hook.created_at else None}


def body_for(t: Transcript, event: str) -> bytes:
    """The JSON a delivery POSTs (built once, so every retry sends the same bytes and signature)."""
    base = current_app.config["SCRIPTORIUM"].public_url or ""
    return json.dumps({"event": event, "transcript": {
        "id": t.id, "status": t.status, "title": t.title, "language": t.language, "duration": t.duration,
        "error": t.error, "url": f"{base}/transcripts/{t.id}"}}, separators=(",", ":")).encode()


def get_queue() -> Queue:
    return Queue(QUEUE_NAME, connection=queue_mod.connection())


def enqueue_event(transcript_id: int, event: str) -> int:
    """Queue one delivery per webhook of the transcript's owner that wants ``event``; the number queued."""
    t = db.session.get(Transcript, transcript_id, populate_existing=True)
    if t is None or t.owner_id is None:
        return 0
    hooks = [h for h in db.session.scalars(select(Webhook).where(Webhook.user_id == t.owner_id)) if event in h.events]
    if not hooks:
        return 0
    body = body_for(t, event).decode()
    rows = []
    for hook in hooks:
        row = WebhookDelivery(webhook_id=hook.id, delivery_id=str(uuid.uuid4()), event=event,
                              transcript_id=t.id, attempt=0, outcome="pending")
        db.session.add(row)
        rows.append((hook, row))
    db.session.commit()
    q = get_queue()
    for hook, row in rows:
        q.enqueue(TASK, hook.id, row.delivery_id, event, body, retry=Retry(max=MAX_ATTEMPTS - 1, interval=BACKOFF_S),
                  job_timeout=60, failure_ttl=7 * 24 * 3600, result_ttl=3600,
                  description=f"webhook {hook.id}: {event} for transcript {t.id}")
    return len(rows)


__all__ = ["MAX_ATTEMPTS", "QUEUE_NAME", "TASK", "TargetRefused", "body_for", "check_url", "create", "delete",
           "enqueue_event", "list_for", "recent_deliveries", "resolve_target", "secret_of", "sign"]
