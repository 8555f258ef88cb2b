"""The RQ job that POSTs one webhook delivery (``"worker.webhooks.deliver"``, queue ``webhooks``).

Each attempt is a row in ``webhook_deliveries``. A timeout, a refused connection or a non-2xx answer raises, so
RQ's ``Retry`` (set at enqueue: 5 attempts, growing waits) tries again; a target that is not allowed is logged as
refused and not retried. The connection goes to an address that was checked a moment before, and redirects are
not followed: a name that re-resolves to an inside address, or a 3xx pointing inside, reaches nothing.
"""
from __future__ import annotations

import http.client
import logging
import socket
import ssl
from datetime import datetime, timezone
from urllib.parse import urlsplit

from rq import get_current_job
from sqlalchemy import select

from webapp import metrics
from webapp.errors import Invalid
from webapp.extensions import db
from webapp.models import Webhook, WebhookDelivery
from webapp.services import webhooks as service
from worker.tasks import get_app

log = logging.getLogger("scriptorium.webhooks")
TIMEOUT_S = 10.0
USER_AGENT = "Scriptorium-Webhooks/1"


class DeliveryFailed(Exception):
    """The target did not accept the delivery (RQ retries the job while attempts are left)."""


class _PinnedHTTPS(http.client.HTTPSConnection):
    """HTTPS to a given address, with the certificate checked against the URL's host name (SNI too)."""

    def __init__(self, host: str, port: int, address: str, **kw):
        super().__init__(host, port, context=ssl.create_default_context(), **kw)
        self._address = address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


class _PinnedHTTP(http.client.HTTPConnection):
    def __init__(self, host: str, port: int, address: str, **kw):
        super().__init__(host, port, **kw)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


def post(url: str, address: str, headers: dict[str, str], body: bytes) -> int:
    """POST ``body`` to ``url`` over a connection to ``address``; the HTTP status (redirects are not followed)."""
    scheme, host, port = service.check_url(url)
    parts = urlsplit(url.strip())
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    conn_cls = _PinnedHTTPS if scheme == "https" else _PinnedHTTP
    conn = conn_cls(host, port, address, timeout=TIMEOUT_S)
    try:
        conn.request("POST", path, body=body, headers=headers)
        resp = conn.getresponse()
        resp.read(65536)
        return resp.status
    finally:
        conn.close()


def _attempt_number() -> int:
    job = get_current_job()
    if job is None or job.retries_left is None:
        return 1
    return service.MAX_ATTEMPTS - job.retries_left


def _row(delivery_id: str, webhook_id: int, event: str, attempt: int) -> WebhookDelivery:
    row = db.session.scalar(select(WebhookDelivery).where(WebhookDelivery.delivery_id == delivery_id,
                                                          WebhookDelivery.outcome == "pending"))
    if row is None:
        first = db.session.scalar(select(WebhookDelivery).where(WebhookDelivery.delivery_id == delivery_id))
        row = WebhookDelivery(webhook_id=webhook_id, delivery_id=delivery_id, event=event,
                              transcript_id=first.transcript_id if first else None)
        db.session.add(row)
    row.attempt, row.outcome, row.created_at = attempt, "sending", datetime.now(timezone.utc)
    db.session.commit()
    return row


def deliver(webhook_id: int, delivery_id: str, event: str, body: str) -> int | None:
    """RQ entry point: one attempt at one delivery. Returns the HTTP status of an accepted delivery."""
    with get_app().app_context():
        try:
            return _deliver(webhook_id, delivery_id, event, body.encode())
        finally:
            db.session.remove()


def _deliver(webhook_id: int, delivery_id: str, event: str, body: bytes) -> int | None:
    hook = db.session.get(Webhook, webhook_id)
    if hook is None:  # removed since: nothing to deliver to
        log.info("webhook %s is gone; delivery %s dropped", webhook_id, delivery_id)
        return None
    attempt = _attempt_number()
    row_id = _row(delivery_id, webhook_id, event, attempt).id
    url, settings = hook.url, get_app().config["SCRIPTORIUM"]
    status, error, outcome = None, None, "failed"
    try:
        secret = service.secret_of(hook)
        _, host, port = service.check_url(url)
        address = service.resolve_target(host, port, settings.webhook_allow_private)[0]
        headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT, "X-Scriptorium-Event": event,
                   "X-Scriptorium-Delivery": delivery_id, "X-Scriptorium-Signature": service.sign(secret, body)}
        db.session.close()  # no transaction stays open while the target takes its time
        status = post(url, address, headers, body)
        if 200 <= status < 300:
            outcome = "delivered"
        else:
            error = f"the target answered HTTP {status}"
    except service.TargetRefused as exc:
        outcome, error = "refused", str(exc)
    except Invalid as exc:
        error = str(exc)
    except (OSError, http.client.HTTPException) as exc:  # timeouts, refused connections, TLS, broken answers
        error = f"{type(exc).__name__}: {exc}"[:500]
    last = attempt >= service.MAX_ATTEMPTS
    if outcome == "failed" and not last:
        outcome = "retrying"
    row = db.session.get(WebhookDelivery, row_id)
    row.outcome, row.status_code, row.error = outcome, status, error
    row.finished_at = datetime.now(timezone.utc)
    db.session.commit()
    metrics.WEBHOOK_DELIVERIES.labels(outcome=outcome).inc()
    log.info("webhook %s delivery %s attempt %d: %s%s", webhook_id, delivery_id, attempt, outcome,
             f" ({error})" if error else "")
    if outcome in ("retrying", "failed"):
        raise DeliveryFailed(error)
    return status
