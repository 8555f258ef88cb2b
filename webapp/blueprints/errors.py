"""The one error negotiator: JSON under /api/ (and for JSON clients), a short text for htmx, a page elsewhere.

Domain errors (``webapp.errors``), HTTP errors and values the database cannot hold all end here, so a route or
a service only says what went wrong.
"""
from __future__ import annotations

import logging

from flask import Flask, current_app, g, render_template, request
from flask_babel import gettext as _
from sqlalchemy.exc import DataError
from werkzeug.exceptions import HTTPException

from webapp.errors import DomainError
from webapp.extensions import db

log = logging.getLogger("scriptorium.web")
JSON_PREFIXES = ("/api/", "/hooks/")


def wants_json() -> bool:
    return request.path.startswith(JSON_PREFIXES) or request.accept_mimetypes.best == "application/json"


def _sentence(message: str) -> str:
    message = message.strip()
    message = message[:1].upper() + message[1:]
    return message if message.endswith((".", "!", "?")) else message + "."


def negotiate(code: int, message: str, **extra):
    """``(body, code)`` for an error, in the shape the client reads."""
    if wants_json():
        return {"error": message, **extra}, code
    if request.headers.get("HX-Request"):
        return _sentence(message), code
    template = {404: "errors/404.html", 500: "errors/500.html"}.get(code, "errors/400.html")
    return render_template(template, message=_sentence(message), request_id=g.get("request_id")), code


def register(app: Flask) -> None:
    """Install the handlers on ``app`` (blueprints may still answer one code their own way, like the upload
    form's 413)."""

    @app.errorhandler(DomainError)
    def _domain(err: DomainError):
        return negotiate(err.status, str(err))

    @app.errorhandler(HTTPException)
    def _http(err: HTTPException):
        if err.code is None or err.code < 400:
            return err
        if err.code == 404:
            return negotiate(404, _("not found"))
        if err.code == 413:
            limit = current_app.config["SCRIPTORIUM"].max_upload_mb
            return negotiate(413, _("the file is larger than the upload limit of %(limit)s MB", limit=limit))
        if err.code >= 500:
            return _server_error(err)
        return negotiate(err.code, err.description or err.name)

    @app.errorhandler(DataError)
    def _bad_value(err):
        """A value the database cannot hold (a NUL character, a number out of range): the request's fault."""
        db.session.rollback()
        return negotiate(400, _("the request contains a value that cannot be stored (such as a NUL character)"))

    @app.errorhandler(500)
    def _server_error(err):
        log.error("request %s failed: %s", g.get("request_id"), getattr(err, "original_exception", None) or err)
        return negotiate(500, _("internal error"), request_id=g.get("request_id"))
