"""/search: full-text search across the transcripts a person may see; each hit opens the reader at its moment."""
from __future__ import annotations

from flask import Blueprint, make_response, render_template, request

from webapp.blueprints.auth import current_user, login_required
from webapp.extensions import htmx
from webapp.services import search as search_service
from webapp.services import sharing, tags

bp = Blueprint("search", __name__)
PER_PAGE = 20


def _arg(args, name: str, size: int) -> str | None:
    """A filter's text: NUL (which no stored name can contain, and PostgreSQL refuses) dropped, trimmed, cut."""
    return (args.get(name) or "").replace("\x00", "").strip()[:size] or None


def filters_from(args) -> search_service.Filters:
    return search_service.Filters(
        speaker=_arg(args, "speaker", 120),
        language=_arg(args, "language", 16),
        date_from=search_service.parse_date(args.get("from")),
        date_to=search_service.parse_date(args.get("to")),
        tag=_arg(args, "tag", 64),
        person_id=args.get("person", type=int),
    )


@bp.get("/search")
@login_required
def search():
    """The search page; for htmx (the form, live) only the results."""
    q = (request.args.get("q") or "").strip()
    filters = filters_from(request.args)
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    hits = search_service.search(current_user(), q, filters, limit=PER_PAGE + 1, offset=(page - 1) * PER_PAGE)
    ctx = {"q": q, "filters": filters, "hits": hits[:PER_PAGE], "has_next": len(hits) > PER_PAGE, "page": page,
           "shared_by": sharing.owner_names(current_user(), {h.transcript_id for h in hits[:PER_PAGE]})}
    if htmx and htmx.target == "results":
        resp = make_response(render_template("search/_results.html", **ctx))
    else:
        resp = make_response(render_template("search/search.html",
                                             languages=search_service.languages(current_user()),
                                             all_tags=tags.all_for(current_user()), **ctx))
    resp.vary.add("HX-Request")
    return resp
