"""Issue 12 item 1, in the real browser: an ordinary user's `.js` upload plus an `.html` upload whose
`<script src>` points at the first, opened by the admin. Before the fix the script ran in our origin, read the
CSRF token from /account and minted an admin API token. Now neither file's bytes are kept, and even bytes kept
from before (served with the probed type, nosniff, a sandboxing CSP, or as an attachment) run nothing.

A positive control first runs the very same payload where nothing protects it (a page Playwright serves at our
origin), so the test proves the payload would take over the admin, and then proves it cannot.
"""
from __future__ import annotations

import hashlib
import re
import tempfile
from pathlib import Path

import pytest

sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright pytest-playwright")
expect = sync_api.expect

# What the attacker's script does: mark the page, then read the admin's CSRF token and mint an API token.
PAYLOAD = """
document.title = "pwned";
fetch("/account").then(function (r) { return r.text(); }).then(function (html) {
  var token = /name="csrf_token" value="([^"]+)"/.exec(html)[1];
  var body = new URLSearchParams({name: "stolen", csrf_token: token});
  return fetch("/account/tokens", {method: "POST", body: body, headers: {"X-CSRF-Token": token}});
}).then(function () { document.title = "pwned: token minted"; });
"""


def page_loading(script_url: str) -> str:
    return f'<!doctype html><html><head><title>innocent</title><script src="{script_url}"></script></head>' \
           f'<body><h1>Quarterly report</h1></body></html>\n'


def admin_tokens(app, name: str = "admin") -> list[str]:
    from sqlalchemy import select

    from webapp.extensions import db
    from webapp.models import ApiToken, User

    with app.app_context():
        names = list(db.session.scalars(select(ApiToken.name).join(User).where(User.name == name)
                                        .order_by(ApiToken.id)))
        db.session.remove()
        return names


def sign_in(page, base: str) -> None:
    page.goto(base + "/login")
    page.get_by_label("Name").fill("admin")
    page.get_by_label("Password").fill("admin-password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Transcribe recordings")).to_be_visible()


def kept_from_before(app, owner_id: int, body: bytes, mime: str) -> int:
    """A transcript whose bytes were stored before the fix (the attack's own leftovers on an upgraded server)."""
    from webapp.extensions import db
    from webapp.models import Media, Transcript
    from webapp.storage import from_settings

    sha = hashlib.sha256(body + mime.encode()).hexdigest()
    with app.app_context():
        with tempfile.NamedTemporaryFile() as tmp:
            Path(tmp.name).write_bytes(body)
            from_settings(app.config["SCRIPTORIUM"]).put_file(f"media/{sha[:2]}/{sha}", Path(tmp.name), mime)
        t = Transcript(owner_id=owner_id, title="old upload", status="done", options={}, options_key=sha,
                       media=Media(sha256=sha, size=len(body), original_name="old.html", mime=mime,
                                   storage_key=f"media/{sha[:2]}/{sha}"))
        db.session.add(t)
        db.session.commit()
        return t.id


def test_uploaded_script_and_page_never_run_in_the_admins_browser(page, live_server, app, user_factory):
    base = live_server
    user_factory("admin", admin=True, password="admin-password")
    mallory_id, mallory = user_factory("mallory", password="mallory-password")
    api = page.request
    auth = {"Authorization": f"Bearer {mallory}"}

    # The attack, through the API as an ordinary user.
    js = api.post(base + "/api/v1/transcripts", headers=auth,
                  multipart={"file": {"name": "x.js", "mimeType": "text/javascript", "buffer": PAYLOAD.encode()}})
    assert js.status == 201, js.text()
    js_id = js.json()["id"]
    html = api.post(base + "/api/v1/transcripts", headers=auth, multipart={"file": {
        "name": "report.html", "mimeType": "text/html",
        "buffer": page_loading(f"/transcripts/{js_id}/media").encode()}})
    assert html.status == 201, html.text()
    html_id = html.json()["id"]
    assert js.json()["status"] == html.json()["status"] == "failed"

    sign_in(page, base)
    before = admin_tokens(app)

    # Positive control: the same payload, served at our origin with nothing in its way, does take over.
    page.route(base + "/control/report.html", lambda route: route.fulfill(
        status=200, content_type="text/html", body=page_loading("/control/x.js")))
    page.route(base + "/control/x.js", lambda route: route.fulfill(
        status=200, content_type="text/javascript", body=PAYLOAD))
    page.goto(base + "/control/report.html")
    expect(page).to_have_title("pwned: token minted")
    assert admin_tokens(app) == before + ["stolen"]
    before = admin_tokens(app)

    # The attack: the admin opens the media links of both uploads.
    for tid in (html_id, js_id):
        resp = page.goto(f"{base}/transcripts/{tid}/media")
        assert resp.status == 404, tid
        assert page.title() != "pwned" and "pwned" not in page.title()
    # ... and the page that loads the script from the media URL, served from elsewhere in our origin
    page.route(base + "/control/again.html", lambda route: route.fulfill(
        status=200, content_type="text/html", body=page_loading(f"/transcripts/{js_id}/media")))
    page.goto(base + "/control/again.html")
    expect(page).to_have_title("innocent")

    # Bytes kept from before the fix: a page stored as audio/wav is audio (nosniff, sandboxed), and one stored as
    # text/html comes back as a download, never rendered.
    as_audio = kept_from_before(app, mallory_id, page_loading(f"/transcripts/{js_id}/media").encode(), "audio/wav")
    resp = page.goto(f"{base}/transcripts/{as_audio}/media")
    assert resp.headers["content-type"] == "audio/wav"
    assert resp.headers["content-security-policy"] == "default-src 'none'; sandbox"
    assert "pwned" not in page.title()
    script_kept = kept_from_before(app, mallory_id, PAYLOAD.encode(), "text/javascript")
    as_html = kept_from_before(app, mallory_id, page_loading(f"/transcripts/{script_kept}/media").encode(),
                               "text/html")
    with page.expect_download() as download:
        try:
            page.goto(f"{base}/transcripts/{as_html}/media")
        except sync_api.Error as exc:  # Chromium reports a navigation that became a download as aborted
            assert re.search(r"Download is starting|ERR_ABORTED", str(exc)), exc
    assert download.value.suggested_filename == "recording"
    page.route(base + "/control/third.html", lambda route: route.fulfill(
        status=200, content_type="text/html", body=page_loading(f"/transcripts/{script_kept}/media")))
    page.goto(base + "/control/third.html")
    expect(page).to_have_title("innocent")  # a kept script is an octet-stream attachment: not run (nosniff)

    # Mallory's pages never ran: the admin's tokens are as they were.
    page.goto(base + "/account")
    assert admin_tokens(app) == before
