"""/api/v1 for tags, collections, shares and share links, with the API's bearer-token authentication.

Bodies are JSON objects; a key the route does not know is refused (400), so a typo never passes silently.
"""
from __future__ import annotations

from typing import Any

from flask import Blueprint, g, request, url_for

from webapp import openapi
from webapp.blueprints.api import _require_token
from webapp.errors import Invalid
from webapp.services import sharing, tags, transcripts

bp = Blueprint("api_sharing", __name__, url_prefix="/api/v1")
bp.before_request(_require_token)


def _body(allowed: set[str], *, optional: bool = False) -> dict[str, Any]:
    """The request's JSON object, with only ``allowed`` keys; ``optional``: an empty body is ``{}``."""
    if optional and not request.get_data():
        return {}
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise Invalid("send a JSON object (Content-Type: application/json)")
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise Invalid(f"unknown field {unknown[0]!r}; this route takes {', '.join(sorted(allowed)) or 'none'}")
    return data


def _string(data: dict, key: str) -> str | None:
    value = data.get(key)
    if value is not None and not isinstance(value, str):
        raise Invalid(f"{key} must be a string")
    return value


# --- tags --------------------------------------------------------------------------------------------------

@bp.get("/tags")
def list_tags():
    """Your tags with how many transcripts carry each."""
    return {"tags": [{"name": n, "transcripts": c} for n, c in tags.counts_for(g.user)]}


@bp.get("/transcripts/<int:transcript_id>/tags")
def transcript_tags(transcript_id: int):
    return {"tags": tags.of(g.user, transcripts.readable(g.user, transcript_id))}


@bp.put("/transcripts/<int:transcript_id>/tags")
def set_transcript_tags(transcript_id: int):
    """Replace your tags on the transcript with the list ``{"tags": [...]}``."""
    t = transcripts.readable(g.user, transcript_id)
    names = _body({"tags"}).get("tags")
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise Invalid("send {\"tags\": [\"name\", ...]}")
    return {"tags": tags.replace(g.user, t, names)}


@bp.put("/transcripts/<int:transcript_id>/tags/<tag>")
def add_transcript_tag(transcript_id: int, tag: str):
    return {"tags": tags.add(g.user, transcripts.readable(g.user, transcript_id), tag)}


@bp.delete("/transcripts/<int:transcript_id>/tags/<tag>")
def remove_transcript_tag(transcript_id: int, tag: str):
    t = transcripts.readable(g.user, transcript_id)
    tags.clean(tag)  # a name no tag can have is a bad request, not a silent no-op
    return {"tags": tags.remove(g.user, t, tag)}


# --- shares of a transcript --------------------------------------------------------------------------------

def _new_share(**target):
    data = _body({"user", "role"})
    s = sharing.share(g.user, user=_string(data, "user"), role=_string(data, "role"), **target)
    return sharing.share_dict(s), 201


@bp.get("/transcripts/<int:transcript_id>/shares")
def transcript_shares(transcript_id: int):
    t = transcripts.owned(g.user, transcript_id)
    return {"shares": [sharing.share_dict(s) for s in sharing.shares_of(transcript=t)]}


@bp.post("/transcripts/<int:transcript_id>/shares")
def share_transcript(transcript_id: int):
    """``{"user": "<account name>", "role": "viewer"|"editor"}``; sharing again changes the role."""
    return _new_share(transcript=transcripts.owned(g.user, transcript_id))


@bp.delete("/transcripts/<int:transcript_id>/shares/<int:share_id>")
def unshare_transcript(transcript_id: int, share_id: int):
    sharing.revoke(share_id, transcript=transcripts.owned(g.user, transcript_id))
    return "", 204


# --- share links -------------------------------------------------------------------------------------------

@bp.get("/transcripts/<int:transcript_id>/links")
def transcript_links(transcript_id: int):
    t = transcripts.owned(g.user, transcript_id)
    return {"links": [sharing.link_dict(link) for link in sharing.links_of(t)]}


@bp.post("/transcripts/<int:transcript_id>/links")
def create_link(transcript_id: int):
    """``{"expires_in_days": N}`` (optional): the link's URL is in this answer only."""
    t = transcripts.owned(g.user, transcript_id)
    link, raw = sharing.create_link(g.user, t, _body({"expires_in_days"}, optional=True).get("expires_in_days"))
    return {**sharing.link_dict(link), "url": url_for("share_link.reader", token=raw, _external=True)}, 201


@bp.delete("/transcripts/<int:transcript_id>/links/<int:link_id>")
def revoke_link(transcript_id: int, link_id: int):
    sharing.revoke_link(transcripts.owned(g.user, transcript_id), link_id)
    return "", 204


# --- collections -------------------------------------------------------------------------------------------

@bp.get("/collections")
def list_collections():
    """Yours, then those shared with you."""
    return {"items": [sharing.collection_dict(c, g.user) for c in sharing.collections_for(g.user)]}


@bp.post("/collections")
def create_collection():
    c = sharing.create_collection(g.user, _body({"name"}).get("name"))
    return sharing.collection_dict(c, g.user), 201


@bp.get("/collections/<int:collection_id>")
def get_collection(collection_id: int):
    c = sharing.collection_for(g.user, collection_id)
    items = transcripts.list_for(g.user, collection_id=c.id, limit=500)
    return {**sharing.collection_dict(c, g.user), "items": [transcripts.summary(t) for t in items]}


@bp.patch("/collections/<int:collection_id>")
def rename_collection(collection_id: int):
    c = sharing.collection_for(g.user, collection_id, manage=True)
    return sharing.collection_dict(sharing.rename_collection(c, _body({"name"}).get("name")), g.user)


@bp.delete("/collections/<int:collection_id>")
def delete_collection(collection_id: int):
    sharing.delete_collection(sharing.collection_for(g.user, collection_id, manage=True))
    return "", 204


@bp.put("/collections/<int:collection_id>/transcripts/<int:transcript_id>")
def add_to_collection(collection_id: int, transcript_id: int):
    c = sharing.collection_for(g.user, collection_id, manage=True)
    sharing.add_to_collection(c, transcripts.owned(g.user, transcript_id))
    return sharing.collection_dict(c, g.user)


@bp.delete("/collections/<int:collection_id>/transcripts/<int:transcript_id>")
def remove_from_collection(collection_id: int, transcript_id: int):
    sharing.remove_from_collection(sharing.collection_for(g.user, collection_id, manage=True), transcript_id)
    return "", 204


@bp.get("/collections/<int:collection_id>/shares")
def collection_shares(collection_id: int):
    c = sharing.collection_for(g.user, collection_id, manage=True)
    return {"shares": [sharing.share_dict(s) for s in sharing.shares_of(collection=c)]}


@bp.post("/collections/<int:collection_id>/shares")
def share_collection(collection_id: int):
    return _new_share(collection=sharing.collection_for(g.user, collection_id, manage=True))


@bp.delete("/collections/<int:collection_id>/shares/<int:share_id>")
def unshare_collection(collection_id: int, share_id: int):
    sharing.revoke(share_id, collection=sharing.collection_for(g.user, collection_id, manage=True))
    return "", 204


# --- OpenAPI -----------------------------------------------------------------------------------------------

def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _path(name: str, schema: dict | None = None) -> dict:
    return {"name": name, "in": "path", "required": True,
            "schema": schema or {"type": "integer", "minimum": 1, "maximum": 2**31 - 1}}


def _req(schema: dict, required: bool = True) -> dict:
    return {"required": required, "content": {"application/json": {"schema": schema}}}


TAG = _path("tag", {"type": "string", "minLength": 1, "maxLength": 64, "pattern": "^[^/,\\x00]*\\S[^/,\\x00]*$"})
CID, SHARE_ID, LINK_ID = _path("collection_id"), _path("share_id"), _path("link_id")
NO_COLLECTION = openapi._err("no such collection, or not yours")
FORBIDDEN = openapi._err("shared with you, but only its owner can do this")
DELETED = {"204": {"description": "done"}}
BAD = openapi._err("bad body or value")
UNAUTH = openapi.UNAUTH
NOT_FOUND = openapi.NOT_FOUND
NULLABLE_STR = openapi.NULLABLE_STR

openapi.EXTRA_SCHEMAS.update({
    "TagNames": {"type": "object", "required": ["tags"],
                 "properties": {"tags": {"type": "array", "items": {"type": "string"}}}},
    "TagCounts": {"type": "object", "required": ["tags"], "properties": {"tags": {"type": "array", "items": {
        "type": "object", "required": ["name", "transcripts"],
        "properties": {"name": {"type": "string"}, "transcripts": {"type": "integer"}}}}}},
    "Share": {"type": "object", "required": ["id", "user", "role"],
              "properties": {"id": {"type": "integer"}, "user": {"type": "string"},
                             "role": {"type": "string", "enum": ["viewer", "editor"]}, "created_at": NULLABLE_STR}},
    "ShareList": {"type": "object", "required": ["shares"],
                  "properties": {"shares": {"type": "array", "items": _ref("Share")}}},
    "Link": {"type": "object", "required": ["id"],
             "properties": {"id": {"type": "integer"}, "created_at": NULLABLE_STR,
                            "expires_at": {**NULLABLE_STR, "description": "null: never"},
                            "url": {"type": "string", "description": "only in the answer that made it"}}},
    "LinkList": {"type": "object", "required": ["links"],
                 "properties": {"links": {"type": "array", "items": _ref("Link")}}},
    "Collection": {"type": "object", "required": ["id", "name", "owner", "mine"],
                   "properties": {"id": {"type": "integer"}, "name": {"type": "string"}, "owner": {"type": "string"},
                                  "mine": {"type": "boolean"}, "transcripts": {"type": "integer"},
                                  "created_at": NULLABLE_STR,
                                  "items": {"type": "array", "items": _ref("TranscriptSummary")}}},
    "CollectionList": {"type": "object", "required": ["items"],
                       "properties": {"items": {"type": "array", "items": _ref("Collection")}}},
})
SHARE_BODY = _req({"type": "object", "required": ["user"], "additionalProperties": False, "properties": {
    "user": {"type": "string", "description": "the account name to share with"},
    "role": {"type": "string", "enum": ["viewer", "editor"], "description": "default viewer"}}})
NAME_BODY = _req({"type": "object", "required": ["name"], "additionalProperties": False,
                  "properties": {"name": {"type": "string", "minLength": 1, "maxLength": 120}}})


def _op(summary: str, op_id: str, params: list, responses: dict, body: dict | None = None) -> dict:
    op = {"summary": summary, "operationId": op_id, "parameters": params, "responses": {**responses, "401": UNAUTH}}
    if body:
        op["requestBody"] = body
    return op


openapi.EXTRA_PATHS.update({
    "/tags": {"get": _op("Your tags, with how many transcripts carry each", "listTags", [],
                         {"200": openapi._json("TagCounts", "your tags")})},
    "/transcripts/{id}/tags": {
        "get": _op("Your tags on a transcript you can see", "getTranscriptTags", [openapi.ID],
                   {"200": openapi._json("TagNames", "tags"), "404": NOT_FOUND}),
        "put": _op("Replace your tags on the transcript", "setTranscriptTags", [openapi.ID],
                   {"200": openapi._json("TagNames", "tags now"), "400": BAD, "404": NOT_FOUND},
                   _req({"type": "object", "required": ["tags"], "additionalProperties": False, "properties": {
                       "tags": {"type": "array", "maxItems": 50, "items": {"type": "string"}}}})),
    },
    "/transcripts/{id}/tags/{tag}": {
        "put": _op("Add one of your tags (made on first use, any case)", "addTranscriptTag", [openapi.ID, TAG],
                   {"200": openapi._json("TagNames", "tags now"), "400": BAD, "404": NOT_FOUND}),
        "delete": _op("Take one of your tags off the transcript", "removeTranscriptTag", [openapi.ID, TAG],
                      {"200": openapi._json("TagNames", "tags now"), "400": BAD, "404": NOT_FOUND}),
    },
    "/transcripts/{id}/shares": {
        "get": _op("Accounts the transcript is shared with (owner only)", "listTranscriptShares", [openapi.ID],
                   {"200": openapi._json("ShareList", "shares"), "403": FORBIDDEN, "404": NOT_FOUND}),
        "post": _op("Share with an account as viewer or editor (again: changes the role)", "shareTranscript",
                    [openapi.ID], {"201": openapi._json("Share", "shared"), "400": BAD, "403": FORBIDDEN,
                                   "404": NOT_FOUND, "409": openapi._err("shared at the same moment")},
                    SHARE_BODY),
    },
    "/transcripts/{id}/shares/{share_id}": {
        "delete": _op("Revoke a share: access ends at once", "unshareTranscript", [openapi.ID, SHARE_ID],
                      {**DELETED, "403": FORBIDDEN, "404": NOT_FOUND}),
    },
    "/transcripts/{id}/links": {
        "get": _op("Read-only links to the transcript (owner only)", "listLinks", [openapi.ID],
                   {"200": openapi._json("LinkList", "links"), "403": FORBIDDEN, "404": NOT_FOUND}),
        "post": _op("Make a read-only link; its url is shown in this answer only", "createLink", [openapi.ID],
                    {"201": openapi._json("Link", "the link, with its url"), "400": BAD, "403": FORBIDDEN,
                     "404": NOT_FOUND},
                    _req({"type": "object", "additionalProperties": False, "properties": {
                        "expires_in_days": {"type": ["integer", "null"], "minimum": 1, "maximum": 3650,
                                            "description": "null or absent: never expires"}}}, required=False)),
    },
    "/transcripts/{id}/links/{link_id}": {
        "delete": _op("Revoke a link: it stops working at once", "revokeLink", [openapi.ID, LINK_ID],
                      {**DELETED, "403": FORBIDDEN, "404": NOT_FOUND}),
    },
    "/collections": {
        "get": _op("Your collections, then those shared with you", "listCollections", [],
                   {"200": openapi._json("CollectionList", "collections")}),
        "post": _op("Create a collection", "createCollection", [],
                    {"201": openapi._json("Collection", "created"), "400": BAD,
                     "409": openapi._err("you have a collection of that name")}, NAME_BODY),
    },
    "/collections/{collection_id}": {
        "get": _op("A collection and its transcripts", "getCollection", [CID],
                   {"200": openapi._json("Collection", "the collection"), "404": NO_COLLECTION}),
        "patch": _op("Rename a collection", "renameCollection", [CID],
                     {"200": openapi._json("Collection", "renamed"), "400": BAD, "404": NO_COLLECTION,
                      "409": openapi._err("you have a collection of that name")}, NAME_BODY),
        "delete": _op("Delete a collection (its transcripts stay)", "deleteCollection", [CID],
                      {**DELETED, "404": NO_COLLECTION}),
    },
    "/collections/{collection_id}/transcripts/{id}": {
        "put": _op("Put one of your transcripts in the collection", "addToCollection", [CID, openapi.ID],
                   {"200": openapi._json("Collection", "the collection"), "400": BAD, "403": FORBIDDEN,
                    "404": NO_COLLECTION}),
        "delete": _op("Take a transcript out of the collection", "removeFromCollection", [CID, openapi.ID],
                      {**DELETED, "404": NO_COLLECTION}),
    },
    "/collections/{collection_id}/shares": {
        "get": _op("Accounts the collection is shared with", "listCollectionShares", [CID],
                   {"200": openapi._json("ShareList", "shares"), "404": NO_COLLECTION}),
        "post": _op("Share the collection (every transcript in it) as viewer or editor", "shareCollection", [CID],
                    {"201": openapi._json("Share", "shared"), "400": BAD, "404": NO_COLLECTION,
                     "409": openapi._err("shared at the same moment")}, SHARE_BODY),
    },
    "/collections/{collection_id}/shares/{share_id}": {
        "delete": _op("Revoke a collection share", "unshareCollection", [CID, SHARE_ID],
                      {**DELETED, "404": NO_COLLECTION}),
    },
})
