"""Tags, shares, share links and collections from the pages, as htmx fragments (plain forms without JS).

Tagging needs only sight of a transcript (your tags are yours alone); sharing, links and collection membership
are the owner's (or an admin's).
"""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from webapp.blueprints.auth import current_user, login_required
from webapp.extensions import htmx
from webapp.services import sharing, tags, transcripts

bp = Blueprint("sharing_pages", __name__)


def list_context(user, items, tag: str | None) -> dict:
    """What the list (and a re-rendered row) shows beyond the transcripts: tags, who shared, the tag filter."""
    return {"tag_map": tags.of_many(user, [t.id for t in items]), "shared_by": sharing.shared_by(user, items),
            "all_tags": tags.all_for(user), "tag": tag}


def reader_context(user, t) -> dict:
    mine = transcripts.is_owner(user, t)
    return {
        "can_edit": transcripts.can_edit(user, t), "is_owner": mine,
        "shared_by": None if t.owner_id == user.id else t.owner.name,
        "tags": tags.of(user, t), "all_tags": tags.all_for(user),
        "shares": sharing.shares_of(transcript=t) if mine else [],
        "links": sharing.links_of(t) if mine else [],
        "collections": sharing.collections_of(user, t) if mine else [],
        "my_collections": [c for c in sharing.collections_for(user) if c.owner_id == user.id] if mine else [],
    }


def _back(t, anchor: str):
    return redirect(url_for("pages.transcript", transcript_id=t.id, _anchor=anchor))


# --- tags --------------------------------------------------------------------------------------------------

def _tags_fragment(t, where: str):
    user = current_user()
    return render_template("share/_tags.html", t=t, tags=tags.of(user, t), all_tags=tags.all_for(user), where=where)


@bp.post("/transcripts/<int:transcript_id>/tags")
@login_required
def add_tag(transcript_id: int):
    """Add one of your tags (made on first use) to a transcript you can see; answers the tags fragment."""
    t = transcripts.readable(current_user(), transcript_id)
    tags.add(current_user(), t, request.form.get("name", ""))
    if not htmx:
        return redirect(request.referrer if request.referrer and request.referrer.startswith(request.host_url)
                        else url_for("pages.transcript", transcript_id=t.id))
    return _tags_fragment(t, request.args.get("where", "reader"))


@bp.post("/transcripts/<int:transcript_id>/tags/<tag>/delete")
@login_required
def remove_tag(transcript_id: int, tag: str):
    t = transcripts.readable(current_user(), transcript_id)
    tags.remove(current_user(), t, tag)
    if not htmx:
        return redirect(request.referrer if request.referrer and request.referrer.startswith(request.host_url)
                        else url_for("pages.transcript", transcript_id=t.id))
    return _tags_fragment(t, request.args.get("where", "reader"))


# --- shares and links of one transcript --------------------------------------------------------------------

def _sharing_fragment(t, new_link: str | None = None):
    return render_template("share/_sharing.html", t=t, shares=sharing.shares_of(transcript=t),
                           links=sharing.links_of(t), new_link=new_link)


@bp.post("/transcripts/<int:transcript_id>/shares")
@login_required
def share_transcript(transcript_id: int):
    t = transcripts.owned(current_user(), transcript_id)
    s = sharing.share(current_user(), transcript=t, user=request.form.get("user"), role=request.form.get("role"))
    if not htmx:
        flash(_("Shared with %(name)s as %(role)s.", name=s.user.name, role=_(s.role)))
        return _back(t, "sharing")
    return _sharing_fragment(t)


@bp.post("/transcripts/<int:transcript_id>/shares/<int:share_id>/delete")
@login_required
def unshare_transcript(transcript_id: int, share_id: int):
    t = transcripts.owned(current_user(), transcript_id)
    sharing.revoke(share_id, transcript=t)
    if not htmx:
        flash(_("No longer shared."))
        return _back(t, "sharing")
    return _sharing_fragment(t)


@bp.post("/transcripts/<int:transcript_id>/links")
@login_required
def create_link(transcript_id: int):
    """A new read-only link; its address is shown this once (only a digest of the token is kept)."""
    t = transcripts.owned(current_user(), transcript_id)
    _link, raw = sharing.create_link(current_user(), t, request.form.get("expires_in_days") or None)
    url = url_for("share_link.reader", token=raw, _external=True)
    if not htmx:
        flash(_("Anyone with this link can read the transcript (copy it now, it is not shown again): %(url)s", url=url))
        return _back(t, "sharing")
    return _sharing_fragment(t, new_link=url)


@bp.post("/transcripts/<int:transcript_id>/links/<int:link_id>/delete")
@login_required
def revoke_link(transcript_id: int, link_id: int):
    t = transcripts.owned(current_user(), transcript_id)
    sharing.revoke_link(t, link_id)
    if not htmx:
        flash(_("The link no longer works."))
        return _back(t, "sharing")
    return _sharing_fragment(t)


# --- collections -------------------------------------------------------------------------------------------

@bp.get("/collections")
@login_required
def collections():
    return render_template("share/collections.html", collections=sharing.collections_for(current_user()))


@bp.post("/collections")
@login_required
def create_collection():
    c = sharing.create_collection(current_user(), request.form.get("name"))
    transcript_id = request.form.get("transcript_id", type=int)
    if transcript_id:  # "new collection" from a reader: put that transcript in it
        sharing.add_to_collection(c, transcripts.owned(current_user(), transcript_id))
        return redirect(url_for("pages.transcript", transcript_id=transcript_id, _anchor="sharing"))
    return redirect(url_for("sharing_pages.collection", collection_id=c.id))


@bp.get("/collections/<int:collection_id>")
@login_required
def collection(collection_id: int):
    """A collection's transcripts (the list, filtered), and for its owner the shares."""
    user = current_user()
    c = sharing.collection_for(user, collection_id)
    items = transcripts.list_for(user, collection_id=c.id, limit=500)
    mine = user.is_admin or c.owner_id == user.id
    return render_template("share/collection.html", c=c, items=items, mine=mine,
                           shares=sharing.shares_of(collection=c) if mine else [],
                           **list_context(user, items, None))


def _manage(collection_id: int):
    return sharing.collection_for(current_user(), collection_id, manage=True)


def _to_collection(c, message: str):
    flash(message)
    return redirect(url_for("sharing_pages.collection", collection_id=c.id))


@bp.post("/collections/<int:collection_id>/rename")
@login_required
def rename_collection(collection_id: int):
    c = sharing.rename_collection(_manage(collection_id), request.form.get("name"))
    return _to_collection(c, _("Renamed."))


@bp.post("/collections/<int:collection_id>/delete")
@login_required
def delete_collection(collection_id: int):
    c = _manage(collection_id)
    name = c.name
    sharing.delete_collection(c)
    flash(_("%(name)s: deleted (its transcripts are kept).", name=name))
    return redirect(url_for("sharing_pages.collections"))


@bp.post("/transcripts/<int:transcript_id>/collections")
@login_required
def add_to_collection(transcript_id: int):
    """From the reader: put this transcript in one of your collections (``collection_id`` in the form)."""
    t = transcripts.owned(current_user(), transcript_id)
    c = _manage(request.form.get("collection_id", type=int) or 0)
    sharing.add_to_collection(c, t)
    flash(_("Added to %(name)s.", name=c.name))
    return redirect(url_for("pages.transcript", transcript_id=t.id, _anchor="collections-heading"))


@bp.post("/collections/<int:collection_id>/items/<int:transcript_id>/delete")
@login_required
def remove_item(collection_id: int, transcript_id: int):
    c = _manage(collection_id)
    sharing.remove_from_collection(c, transcript_id)
    return _to_collection(c, _("Removed from the collection."))


@bp.post("/collections/<int:collection_id>/shares")
@login_required
def share_collection(collection_id: int):
    c = _manage(collection_id)
    s = sharing.share(current_user(), collection=c, user=request.form.get("user"), role=request.form.get("role"))
    return _to_collection(c, _("Shared with %(name)s as %(role)s.", name=s.user.name, role=_(s.role)))


@bp.post("/collections/<int:collection_id>/shares/<int:share_id>/delete")
@login_required
def unshare_collection(collection_id: int, share_id: int):
    c = _manage(collection_id)
    sharing.revoke(share_id, collection=c)
    return _to_collection(c, _("No longer shared."))
