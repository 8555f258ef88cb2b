"""Sharing between accounts (viewer, editor, through collections), revoking, and read-only share links, through
the real pages and API over real PostgreSQL and S3."""
import re
from datetime import timedelta

import pytest
from webhelpers import login, post


@pytest.fixture
def two(app, people, make_transcript):
    """Alice (the ``client``, signed in) owns two transcripts; Bob has his own signed-in client."""
    alice_id = people["alice"][0]
    shared = make_transcript(alice_id, title="Quarterly budget")
    private = make_transcript(alice_id, title="Alice diary", segments=[("SPEAKER_00", "My secret budget plans.")])
    bob = app.test_client()
    assert login(bob, "bob", "bob-password").status_code == 302
    return {"shared": shared, "private": private, "bob": bob,
            "alice_api": {"Authorization": f"Bearer {people['alice'][1]}"},
            "bob_api": {"Authorization": f"Bearer {people['bob'][1]}"}}


def _text(resp) -> str:
    return resp.get_data(as_text=True)


def _words(html: str) -> str:
    """The page's text as a reader sees it (words are separate spans in the reader)."""
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def test_a_viewer_reads_plays_searches_and_downloads_but_cannot_change_or_delete(client, two):
    bob, tid = two["bob"], two["shared"]
    assert bob.get(f"/transcripts/{tid}").status_code == 404  # not shared yet
    resp = post(client, f"/transcripts/{tid}/shares", {"user": "bob", "role": "viewer"}, htmx=True)
    assert resp.status_code == 200 and "bob" in _text(resp) and "viewer" in _text(resp)

    listing = _text(bob.get("/"))
    assert "Quarterly budget" in listing and "shared by alice" in listing
    assert "Alice diary" not in listing  # only what was shared
    assert f'id="actions-{tid}"' in listing and f"/transcripts/{tid}/delete" not in listing  # no job actions
    page = bob.get(f"/transcripts/{tid}")
    assert page.status_code == 200 and page.headers["Cache-Control"] == "private, no-store"
    html = _text(page)
    assert "marketing budget grew" in _words(html) and "shared by alice (read-only)" in _words(html)
    assert "/segments/" not in html and "Rename" not in html and f"/transcripts/{tid}/shares" not in html
    assert bob.get(f"/transcripts/{tid}/media").status_code == 200
    assert "marketing budget" in _text(bob.get(f"/transcripts/{tid}/download.txt"))
    hits = _text(bob.get("/search?q=marketing"))
    assert "Quarterly budget" in hits and "shared by alice" in hits
    assert "Alice diary" not in _text(bob.get("/search?q=secret"))

    # no correction, no job action, no re-sharing
    assert post(bob, f"/transcripts/{tid}/title", {"title": "Bob was here"}, htmx=True).status_code == 403
    assert post(bob, f"/transcripts/{tid}/speakers/SPEAKER_00", {"name": "Bob"}, htmx=True).status_code == 403
    assert post(bob, f"/transcripts/{tid}/delete", htmx=True).status_code == 403
    assert post(bob, f"/transcripts/{tid}/shares", {"user": "admin"}, htmx=True).status_code == 403
    api = two["bob_api"]
    assert bob.get(f"/api/v1/transcripts/{tid}", headers=api).get_json()["can_edit"] is False
    assert bob.get(f"/api/v1/transcripts/{tid}/export.srt", headers=api).status_code == 200
    assert bob.delete(f"/api/v1/transcripts/{tid}", headers=api).status_code == 403
    assert bob.post(f"/api/v1/transcripts/{tid}/retry", headers=api).status_code == 403
    assert bob.post(f"/api/v1/transcripts/{tid}/links", headers=api).status_code == 403
    assert "Quarterly budget" in _text(client.get(f"/transcripts/{tid}"))  # untouched


def test_an_editor_corrects_text_and_speakers_but_cannot_delete(client, two, app):
    bob, tid, api = two["bob"], two["shared"], two["bob_api"]
    resp = client.post(f"/api/v1/transcripts/{tid}/shares", json={"user": "bob", "role": "editor"},
                       headers=two["alice_api"])
    assert resp.status_code == 201 and resp.get_json()["role"] == "editor"
    assert bob.get(f"/api/v1/transcripts/{tid}", headers=api).get_json()["can_edit"] is True
    html = _text(bob.get(f"/transcripts/{tid}"))
    seg_id = re.search(r'/segments/(\d+)/text', html).group(1)
    resp = post(bob, f"/transcripts/{tid}/segments/{seg_id}/text", {"text": "Welcome to the yearly budget review."},
                htmx=True)
    assert resp.status_code == 200
    assert post(bob, f"/transcripts/{tid}/speakers/SPEAKER_00", {"name": "Carol"}, htmx=True).status_code == 200
    mine = _text(client.get(f"/transcripts/{tid}/download.txt"))
    assert "yearly budget review" in mine and "Carol" in mine  # the owner sees the editor's corrections
    assert bob.delete(f"/api/v1/transcripts/{tid}", headers=api).status_code == 403
    assert post(bob, f"/transcripts/{tid}/delete", htmx=True).status_code == 403
    assert post(bob, f"/transcripts/{tid}/cancel", htmx=True).status_code == 403


def test_revoking_ends_access_at_once(client, two):
    bob, tid, api = two["bob"], two["shared"], two["bob_api"]
    share = client.post(f"/api/v1/transcripts/{tid}/shares", json={"user": "bob"}, headers=two["alice_api"])
    assert share.get_json()["role"] == "viewer"
    assert bob.get(f"/transcripts/{tid}").status_code == 200
    assert bob.get("/api/v1/search?q=marketing", headers=api).get_json()["hits"][0]["shared_by"] == "alice"
    # revoked through the reader's form
    resp = post(client, f"/transcripts/{tid}/shares/{share.get_json()['id']}/delete", htmx=True)
    assert resp.status_code == 200 and "Only you can see" in _text(resp)
    assert bob.get(f"/transcripts/{tid}").status_code == 404
    assert bob.get(f"/transcripts/{tid}/media").status_code == 404
    assert bob.get(f"/transcripts/{tid}/download.txt").status_code == 404
    assert bob.get(f"/api/v1/transcripts/{tid}", headers=api).status_code == 404
    assert bob.get("/api/v1/search?q=marketing", headers=api).get_json()["hits"] == []
    assert "Quarterly budget" not in _text(bob.get("/"))


def test_a_shared_collection_shares_what_is_in_it(client, two, make_transcript, people):
    bob, api, alice_api = two["bob"], two["bob_api"], two["alice_api"]
    c = client.post("/api/v1/collections", json={"name": "Board"}, headers=alice_api)
    assert c.status_code == 201
    cid = c.get_json()["id"]
    assert client.put(f"/api/v1/collections/{cid}/transcripts/{two['shared']}", headers=alice_api).status_code == 200
    share = client.post(f"/api/v1/collections/{cid}/shares", json={"user": "bob", "role": "editor"},
                        headers=alice_api)
    assert share.status_code == 201
    listed = bob.get("/api/v1/transcripts", headers=api).get_json()["items"]
    assert [(t["title"], t["shared_by"]) for t in listed] == [("Quarterly budget", "alice")]
    assert bob.get(f"/api/v1/collections/{cid}", headers=api).get_json()["items"][0]["id"] == two["shared"]
    assert "Board" in _text(bob.get("/collections")) and "shared by alice" in _text(bob.get(f"/collections/{cid}"))
    # a transcript added later is shared too; bob cannot manage the collection
    later = make_transcript(people["alice"][0], title="Later meeting")
    assert client.put(f"/api/v1/collections/{cid}/transcripts/{later}", headers=alice_api).status_code == 200
    assert bob.get(f"/transcripts/{later}").status_code == 200
    assert bob.delete(f"/api/v1/collections/{cid}", headers=api).status_code == 404
    assert bob.post(f"/api/v1/collections/{cid}/shares", json={"user": "admin"}, headers=api).status_code == 404
    # bob cannot put what was only shared with him into his own collection (and so pass it on)
    mine = bob.post("/api/v1/collections", json={"name": "Mine"}, headers=api).get_json()["id"]
    assert bob.put(f"/api/v1/collections/{mine}/transcripts/{later}", headers=api).status_code == 403
    # revoking the collection share ends access to everything in it
    sid = share.get_json()["id"]
    assert client.delete(f"/api/v1/collections/{cid}/shares/{sid}", headers=alice_api).status_code == 204
    assert bob.get(f"/transcripts/{later}").status_code == 404
    assert bob.get("/api/v1/transcripts", headers=api).get_json()["items"] == []


def test_sharing_refuses_bad_requests_in_words(client, two):
    tid, alice_api = two["shared"], two["alice_api"]
    url = f"/api/v1/transcripts/{tid}/shares"
    for body, words in (({"user": "nobody"}, "no account named"), ({"user": "alice"}, "yourself"),
                        ({"user": "bob", "role": "owner"}, "viewer"), ({"user": "bob", "colour": 1}, "unknown field"),
                        ({}, "name the account")):
        resp = client.post(url, json=body, headers=alice_api)
        assert resp.status_code == 400 and words in resp.get_json()["error"], body
    for days in (0, -1, 4000, "soon", 1.5):
        resp = client.post(f"/api/v1/transcripts/{tid}/links", json={"expires_in_days": days}, headers=alice_api)
        assert resp.status_code == 400, days
    assert client.get(url, headers=alice_api).get_json()["shares"] == []  # nothing half-made


def test_a_share_link_opens_one_transcript_without_signing_in(app, client, two):
    tid, alice_api = two["shared"], two["alice_api"]
    made = client.post(f"/api/v1/transcripts/{tid}/links", json={"expires_in_days": 7}, headers=alice_api)
    assert made.status_code == 201
    url, link_id = made.get_json()["url"], made.get_json()["id"]
    path = url.split("://", 1)[1].split("/", 1)[1]
    token = path.split("/")[1]
    assert len(token) >= 43 and made.get_json()["expires_at"]
    assert "url" not in client.get(f"/api/v1/transcripts/{tid}/links", headers=alice_api).get_json()["links"][0]

    stranger = app.test_client()
    resp = stranger.get("/" + path)
    assert resp.status_code == 200
    html = _text(resp)
    assert "marketing budget grew" in _words(html) and "Quarterly budget" in html
    assert resp.headers["Cache-Control"] == "private, no-store"
    assert resp.headers["Referrer-Policy"] == "no-referrer"
    assert "Set-Cookie" not in resp.headers  # no session for a stranger
    # nothing else of the account: no ids, no app links, no forms, no search
    assert "Alice diary" not in html
    urls = re.findall(r'(?:href|src|action|hx-[a-z]+)="([^"]*)"', html)
    assert urls and all(u.startswith((f"/s/{token}", "/static/", "#")) for u in urls), urls  # nowhere else
    assert "<form" not in html and "/transcripts/" not in html and "/search" not in html and 'href="/"' not in html
    assert "alice" not in html.lower().replace("alice diary", "")
    media = stranger.get(f"/s/{token}/media", headers={"Range": "bytes=0-9"})
    assert media.status_code == 206 and media.headers["Cache-Control"] == "private, no-store"
    assert "marketing budget" in _text(stranger.get(f"/s/{token}/download.txt"))
    # the rest of the app still wants a sign-in
    assert stranger.get("/search?q=secret").status_code == 302
    assert stranger.get(f"/transcripts/{tid}").status_code == 302
    assert stranger.get(f"/transcripts/{two['private']}/download.txt").status_code == 302
    assert stranger.get(f"/s/{token[:-1]}x").status_code == 404

    assert client.delete(f"/api/v1/transcripts/{tid}/links/{link_id}", headers=alice_api).status_code == 204
    for sub in ("", "/media", "/download.txt"):
        assert stranger.get(f"/s/{token}{sub}").status_code == 404, sub


def test_a_share_link_made_on_the_page_stops_at_its_expiry(app, client, two):
    from webapp.extensions import db
    from webapp.models import ShareLink
    from webapp.models.user import utcnow

    tid = two["shared"]
    resp = post(client, f"/transcripts/{tid}/links", {"expires_in_days": "1"}, htmx=True)
    assert resp.status_code == 200
    url = re.search(r'value="(http[^"]+/s/[^"]+)"', _text(resp)).group(1)
    token = url.rsplit("/", 1)[1]
    stranger = app.test_client()
    assert stranger.get(f"/s/{token}").status_code == 200
    with app.app_context():
        link = db.session.scalars(db.select(ShareLink)).one()
        assert link.token_hash != token and token not in link.token_hash  # only a digest is kept
        link.expires_at = utcnow() - timedelta(seconds=1)  # a day later
        db.session.commit()
    assert stranger.get(f"/s/{token}").status_code == 404
    assert stranger.get(f"/s/{token}/media").status_code == 404
    assert "Link made" in _text(client.get(f"/transcripts/{tid}"))


def test_deleting_a_shared_transcript_ends_its_shares_and_links(client, two):
    tid, alice_api = two["shared"], two["alice_api"]
    client.post(f"/api/v1/transcripts/{tid}/shares", json={"user": "bob"}, headers=alice_api)
    token = client.post(f"/api/v1/transcripts/{tid}/links", headers=alice_api).get_json()["url"].rsplit("/", 1)[1]
    assert client.delete(f"/api/v1/transcripts/{tid}", headers=alice_api).status_code == 204
    assert two["bob"].get("/api/v1/transcripts", headers=two["bob_api"]).get_json()["items"] == []
    assert client.get(f"/s/{token}").status_code == 404


def test_collections_from_the_pages(client, two):
    """Make a collection from the reader, add another transcript to it, share it with bob, revoke, delete."""
    tid, other, bob = two["shared"], two["private"], two["bob"]
    resp = post(client, "/collections", {"name": "Board", "transcript_id": str(tid)})
    assert resp.status_code == 302 and f"/transcripts/{tid}" in resp.headers["Location"]
    reader = _text(client.get(f"/transcripts/{other}"))
    cid = int(re.search(r'<option value="(\d+)">Board</option>', reader).group(1))
    assert post(client, f"/transcripts/{other}/collections", {"collection_id": str(cid)}).status_code == 302
    page = _text(client.get(f"/collections/{cid}"))
    assert "Quarterly budget" in page and "Alice diary" in page
    assert post(client, f"/collections/{cid}/shares", {"user": "bob", "role": "viewer"}).status_code == 302
    assert {"Quarterly budget", "Alice diary"} <= set(re.findall(r'/transcripts/\d+">([^<]+)<', _text(bob.get("/"))))
    assert post(bob, f"/collections/{cid}/delete").status_code == 404  # not bob's to delete
    assert post(client, f"/collections/{cid}/items/{other}/delete").status_code == 302
    assert bob.get(f"/transcripts/{other}").status_code == 404 and bob.get(f"/transcripts/{tid}").status_code == 200
    assert post(client, f"/collections/{cid}/delete").status_code == 302
    assert bob.get(f"/transcripts/{tid}").status_code == 404
    assert client.get(f"/transcripts/{tid}").status_code == 200  # the transcripts stay
