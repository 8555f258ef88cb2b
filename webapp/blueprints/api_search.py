"""GET /api/v1/search: the search page's hits as JSON, with the API's bearer-token authentication."""
from __future__ import annotations

from flask import Blueprint, g, request, url_for

from webapp.blueprints.api import _require_token
from webapp.blueprints.search import filters_from
from webapp.services import search as search_service

bp = Blueprint("api_search", __name__, url_prefix="/api/v1")
bp.before_request(_require_token)


@bp.get("/search")
def search():
    """``?q=`` (websearch syntax) plus optional speaker, language, from, to, limit, offset."""
    q = (request.args.get("q") or "").strip()
    if not q:
        return {"error": "give a query as ?q=..."}, 400
    limit = min(max(request.args.get("limit", 20, type=int) or 20, 1), 100)
    offset = max(request.args.get("offset", 0, type=int) or 0, 0)
    hits = search_service.search(g.user, q, filters_from(request.args), limit=limit, offset=offset)
    items = []
    for h in hits:
        item = h.as_dict()
        item["url"] = url_for("pages.transcript", transcript_id=h.transcript_id, t=round(h.start, 2), _external=True)
        items.append(item)
    return {"query": q, "hits": items, "limit": limit, "offset": offset}
