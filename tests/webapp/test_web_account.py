"""The account page: list API tokens, create one (its secret shown once), revoke one; change the password; sign out
everywhere. (The attacks these defend against are in test_security_auth.py.)"""
import re

from webhelpers import post


def test_account_lists_creates_and_revokes_tokens(client, people, app):
    page = client.get("/account").get_data(as_text=True)
    assert "API tokens" in page and "default" in page and "alice" in page
    resp = post(client, "/account/tokens", {"name": "backup script"}, htmx=True)
    body = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "<html" not in body
    secret = re.search(r'id="new-token" class="mono" readonly value="([^"]+)"', body).group(1)
    assert "shown only this once" in body
    # The secret works with the API, and is never shown again.
    assert client.get("/api/v1/transcripts", headers={"Authorization": f"Bearer {secret}"}).status_code == 200
    again = client.get("/account").get_data(as_text=True)
    assert secret not in again and "backup script" in again and secret[:8] in again
    token_id = re.search(r'/account/tokens/(\d+)/revoke"[^>]*\n?[^>]*hx-confirm="Revoke the token “backup script”', again)
    from webapp.extensions import db
    from webapp.models import ApiToken
    with app.app_context():
        tok_id = db.session.scalars(db.select(ApiToken.id).where(ApiToken.name == "backup script")).one()
    resp = post(client, f"/account/tokens/{tok_id}/revoke", htmx=True)
    assert resp.status_code == 200 and "revoked" in resp.get_data(as_text=True)
    assert client.get("/api/v1/transcripts", headers={"Authorization": f"Bearer {secret}"}).status_code == 401
    assert token_id is not None


def test_token_needs_a_name_and_others_tokens_are_out_of_reach(client, people, app):
    resp = post(client, "/account/tokens", {"name": "  "}, htmx=True)
    assert resp.status_code == 422 and "Give the token a name" in resp.get_data(as_text=True)
    from webapp.extensions import db
    from webapp.models import ApiToken, User
    with app.app_context():
        bob = db.session.scalars(db.select(User).where(User.name == "bob")).one()
        bobs_token = bob.tokens[0].id
    assert post(client, f"/account/tokens/{bobs_token}/revoke", htmx=True).status_code == 404
    assert client.post("/account/tokens", data={"name": "no csrf"}).status_code == 403
    with app.app_context():
        assert db.session.get(ApiToken, bobs_token).revoked_at is None


def test_account_without_javascript(client, people):
    from webhelpers import csrf
    resp = client.post("/account/tokens", data={"name": "cron", "csrf_token": csrf(client)})
    assert resp.status_code == 200 and "<html" in resp.get_data(as_text=True) and "shown only this once" in resp.get_data(as_text=True)
    assert client.post("/logout").status_code == 403  # sign-out needs the token too
    client.post("/logout", data={"csrf_token": csrf(client)})
    assert client.get("/account").status_code == 302


def test_password_change_says_what_is_wrong_and_changes_nothing(client, people):
    from webhelpers import login

    page = client.get("/account").get_data(as_text=True)
    assert "Change password" in page and "Sign out everywhere" in page
    cases = [({"current": "alice-password", "new": "short", "repeat": "short"}, "at least 8 characters"),
             ({"current": "alice-password", "new": "long-enough-1", "repeat": "long-enough-2"}, "differ"),
             ({"current": "wrong", "new": "long-enough-1", "repeat": "long-enough-1"}, "not right")]
    for form, message in cases:
        resp = post(client, "/account/password", form)
        assert resp.status_code == 422 and message in resp.get_data(as_text=True)
    assert client.get("/account").status_code == 200  # still signed in
    other = client.application.test_client()
    assert login(other, "alice", "alice-password").status_code == 302  # the old password still works


def test_sign_out_everywhere_from_the_page(client, people):
    from webhelpers import login

    other = client.application.test_client()
    assert login(other, "alice", "alice-password").status_code == 302
    resp = post(client, "/account/sign-out-everywhere")
    assert resp.status_code == 302 and resp.headers["Location"].startswith("/login")
    assert client.get("/account").status_code == 302 and other.get("/account").status_code == 302
    assert "signed out everywhere" in client.get("/login").get_data(as_text=True)
