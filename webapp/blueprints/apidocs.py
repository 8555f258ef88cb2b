"""The API's description: /api/v1/openapi.json (machine-readable, public) and /api/docs (a page, signed in)."""
from __future__ import annotations

from flask import Blueprint, render_template, url_for

from webapp import openapi
from webapp.blueprints.auth import login_required

bp = Blueprint("apidocs", __name__)


@bp.get("/api/v1/openapi.json")
def spec():
    return openapi.spec(url_for("api.list_transcripts", _external=False).rsplit("/transcripts", 1)[0])


@bp.get("/api/docs")
@login_required
def docs():
    s = openapi.spec()
    ops = [(path, method.upper(), op) for path, item in s["paths"].items() for method, op in item.items()]
    return render_template("apidocs/docs.html", spec=s, ops=ops)
