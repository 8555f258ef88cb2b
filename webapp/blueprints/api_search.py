"""GET /api/v1/search: the search page's hits as JSON, with the API's bearer-token authentication."""
from __future__ import annotations

from flask import Blueprint, g, request, url_for

from webapp import openapi
from webapp.blueprints.api import _require_token
from webapp.blueprints.search import filters_from
from webapp.services import search as search_service
from webapp.services import sharing

bp = Blueprint("api_search", __name__, url_prefix="/api/v1")
bp.before_request(_require_token)


def _query(name: str, description: str, schema: dict, required: bool = False) -> dict:
    return {"name": name, "in": "query", "required": required, "description": description, "schema": schema}


openapi.EXTRA_SCHEMAS["SearchHit"] = {
    "type": "object",
    "properties": {
        "transcript_id": {"type": "integer"}, "title": {"type": "string"}, "segment_id": {"type": "integer"},
        "start": {"type": "number", "description": "seconds"}, "end": {"type": "number"},
        "speaker": {"type": ["string", "null"], "description": "the name people gave, else the label"},
        "language": {"type": ["string", "null"]}, "rank": {"type": "number"},
        "snippet": {"type": "string", "description": "HTML-escaped text with matches in <mark>...</mark>"},
        "url": {"type": "string", "description": "the reader at this moment"},
        "shared_by": {"type": ["string", "null"], "description": "the owner, when someone shared it with you"},
    },
}
openapi.EXTRA_SCHEMAS["SearchResults"] = {
    "type": "object", "required": ["query", "hits"],
    "properties": {"query": {"type": "string"}, "limit": {"type": "integer"}, "offset": {"type": "integer"},
                   "hits": {"type": "array", "items": {"$ref": "#/components/schemas/SearchHit"}}},
}
openapi.EXTRA_PATHS["/search"] = {
    "get": {
        "summary": "Full-text search across the transcripts you may see, best matches first",
        "operationId": "search",
        "parameters": [
            _query("q", 'websearch syntax: words, "a phrase", this or that, -without',
                   {"type": "string", "minLength": 1, "pattern": "\\S"}, True),
            _query("speaker", "part of a speaker's name", {"type": "string"}),
            _query("language", "language code, such as en", {"type": "string"}),
            _query("from", "added on or after (YYYY-MM-DD)", {"type": "string", "format": "date"}),
            _query("to", "added on or before (YYYY-MM-DD)", {"type": "string", "format": "date"}),
            _query("tag", "only transcripts carrying this tag of yours (any case)", {"type": "string"}),
            _query("limit", "hits per page (1-100, default 20)", {"type": "integer", "minimum": 1, "maximum": 100}),
            _query("offset", "hits to skip", {"type": "integer", "minimum": 0}),
        ],
        "responses": {"200": openapi._json("SearchResults", "ranked hits with highlighted snippets"),
                      "400": openapi._err("no query given"), "401": openapi.UNAUTH},
    },
}


@bp.get("/search")
def search():
    """``?q=`` (websearch syntax) plus optional speaker, language, from, to, limit, offset."""
    q = (request.args.get("q") or "").strip()
    if not q:
        return {"error": "give a query as ?q=..."}, 400
    limit = min(max(request.args.get("limit", 20, type=int) or 20, 1), 100)
    offset = max(request.args.get("offset", 0, type=int) or 0, 0)
    hits = search_service.search(g.user, q, filters_from(request.args), limit=limit, offset=offset)
    owners = sharing.owner_names(g.user, {h.transcript_id for h in hits})
    items = []
    for h in hits:
        item = h.as_dict()
        item["shared_by"] = owners.get(h.transcript_id)
        item["url"] = url_for("pages.transcript", transcript_id=h.transcript_id, t=round(h.start, 2), _external=True)
        items.append(item)
    return {"query": q, "hits": items, "limit": limit, "offset": offset}
