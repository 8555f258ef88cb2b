"""Scriptorium's web app and domain (settings, models, storage, queue, services, blueprints)."""
from __future__ import annotations

import uuid
from typing import Any

from flask import Flask, g, request
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter

from webapp import i18n, metrics, queue, storage
from webapp import settings as settings_mod
from webapp.extensions import db, htmx, login_manager

# Everything the pages load comes from this origin: no inline scripts, handlers or styles anywhere (htmx's own
# indicator styles are turned off in base.html), no framing, forms only back to us. blob: lets the player play.
CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'self'", "script-src 'self'", "style-src 'self'", "img-src 'self' data:", "media-src 'self' blob:",
    "connect-src 'self'", "object-src 'none'", "frame-ancestors 'none'", "base-uri 'self'", "form-action 'self'",
])
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}
# The upload page may use the microphone (record in the browser), and only from this origin; no other page may.
RECORDING_PERMISSIONS = "camera=(), microphone=(self), geolocation=()"
RECORDING_ENDPOINTS = {"pages.index"}


class IdConverter(IntegerConverter):
    """``<int:...>`` ids are PostgreSQL integers: a larger number matches no route (404) instead of failing the
    database query (500)."""

    def __init__(self, map, *args, **kwargs):
        kwargs.setdefault("max", 2**31 - 1)
        super().__init__(map, *args, **kwargs)


def create_app(test_config: dict[str, Any] | None = None, settings: settings_mod.Settings | None = None) -> Flask:
    """Build the Flask app. Cheap: no migrations, no model loading, no network at creation."""
    app = Flask(__name__, template_folder="../templates", static_folder="../static")
    app.url_map.converters["int"] = IdConverter
    settings = settings or settings_mod.load()
    app.config.update(
        SCRIPTORIUM=settings,
        SECRET_KEY=settings.secret_key,
        SQLALCHEMY_DATABASE_URI=settings.database_url,
        SQLALCHEMY_ENGINE_OPTIONS={"pool_pre_ping": True, "pool_recycle": 1800},
        REDIS_URL=settings.redis_url,
        MAX_CONTENT_LENGTH=settings.max_upload_mb * 1024 * 1024,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.production and not settings.extra.get("insecure_cookies", False),
    )
    if test_config:
        app.config.update(test_config)
    if settings.trusted_proxies:  # behind Caddy/nginx: the client's address and https come from X-Forwarded-*
        n = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)

    db.init_app(app)
    htmx.init_app(app)
    login_manager.init_app(app)
    queue.init_app(app)  # one Redis client and one queue for the app's lifetime
    storage.init_app(app)  # one storage client (S3: one connection pool)
    i18n.init_app(app)  # the interface's languages: Accept-Language or the header's switch (webapp/i18n.py)

    from webapp.blueprints import api, auth, health, pages

    app.register_blueprint(health.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(auth.bp)
    app.register_blueprint(pages.bp)
    from webapp.blueprints import account, api_search, edits, media, search
    app.register_blueprint(account.bp)
    app.register_blueprint(api_search.bp)
    app.register_blueprint(edits.bp)
    app.register_blueprint(media.bp)
    app.register_blueprint(search.bp)
    from webapp.blueprints import hooks  # noqa: E402  (bucket events: POST /hooks/minio)
    app.register_blueprint(hooks.bp)
    from webapp.blueprints import apidocs
    app.register_blueprint(apidocs.bp)
    from webapp.blueprints import admin_models
    app.register_blueprint(admin_models.bp)
    from webapp.blueprints import api_sharing, share_link, sharing_pages  # tags, collections, shares, /s/ links
    app.register_blueprint(api_sharing.bp)
    app.register_blueprint(share_link.bp)
    app.register_blueprint(sharing_pages.bp)
    from webapp.blueprints import metrics as metrics_bp, webhooks
    app.register_blueprint(webhooks.api_bp)
    app.register_blueprint(webhooks.bp)
    app.register_blueprint(metrics_bp.bp)
    from webapp.blueprints import people  # voice profiles: /people, the reader's enrol, /api/v1/people
    app.register_blueprint(people.bp)
    app.register_blueprint(people.api_bp)

    @app.before_request
    def _request_id() -> None:
        g.request_id = request.headers.get("X-Request-Id") or uuid.uuid4().hex[:12]

    @app.after_request
    def _headers(resp):
        if request.endpoint in RECORDING_ENDPOINTS:
            resp.headers.setdefault("Permissions-Policy", RECORDING_PERMISSIONS)
        if request.endpoint != "metrics.metrics_page":  # scrapes are not requests people make
            metrics.HTTP_REQUESTS.labels(endpoint=request.endpoint or "unmatched", method=request.method,
                                         status=str(resp.status_code)).inc()
        for name, value in SECURITY_HEADERS.items():
            resp.headers.setdefault(name, value)
        if request.is_secure:
            resp.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        resp.headers["X-Request-Id"] = g.get("request_id", "")
        return resp

    from webapp.blueprints import errors
    errors.register(app)  # one negotiator: JSON under /api/, text for htmx, a page elsewhere

    return app
