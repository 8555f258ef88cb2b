"""The webhook API and the account page's section: who may register what, secrets shown once, targets refused."""
from __future__ import annotations

from dataclasses import replace

import pytest
from webhelpers import post


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/hook", "http://localhost/hook", "http://10.1.2.3/",
                                 "http://[::1]/", "http://169.254.169.254/latest/meta-data/", "http://[::ffff:127.0.0.1]/"])
def test_private_targets_are_refused_unless_allowed(app, client, auth, url, monkeypatch):
    resp = client.post("/api/v1/webhooks", json={"url": url}, headers=auth)
    assert resp.status_code == 400 and "WEBHOOK_ALLOW_PRIVATE" in resp.get_json()["error"]
    assert client.get("/api/v1/webhooks", headers=auth).get_json()["items"] == []
    monkeypatch.setitem(app.config, "SCRIPTORIUM", replace(app.config["SCRIPTORIUM"], webhook_allow_private=True))
    assert client.post("/api/v1/webhooks", json={"url": url}, headers=auth).status_code == 201


def test_resolution_checks_every_address():
    from webapp.errors import Invalid
    from webapp.services.webhooks import TargetRefused, resolve_target

    with pytest.raises(TargetRefused):
        resolve_target("localhost", 80, allow_private=False)
    assert "127.0.0.1" in resolve_target("localhost", 80, allow_private=True)
    with pytest.raises(Invalid):
        resolve_target("no-such-host.invalid", 80, allow_private=False)


@pytest.mark.parametrize("body", [{"url": "ftp://example.org/"}, {"url": "https://"}, {"url": 3},
                                  {"url": "https://example.org/", "events": ["transcript.exploded"]},
                                  {"url": "https://example.org/", "events": []},
                                  {"url": "https://user:pw@example.org/"}, ["not", "an", "object"]])
def test_bad_webhooks_get_a_400_that_says_why(client, auth, body):
    resp = client.post("/api/v1/webhooks", json=body, headers=auth)
    assert resp.status_code == 400 and resp.get_json()["error"]


def test_create_list_delete_and_only_your_own(client, people):
    alice = {"Authorization": f"Bearer {people['alice'][1]}"}
    bob = {"Authorization": f"Bearer {people['bob'][1]}"}
    resp = client.post("/api/v1/webhooks", json={"url": "https://example.org/hook"}, headers=alice)
    assert resp.status_code == 201
    hook = resp.get_json()
    assert hook["secret"].startswith("whsec_") and hook["events"] == ["transcript.done", "transcript.failed"]
    listed = client.get("/api/v1/webhooks", headers=alice).get_json()["items"]
    assert [h["id"] for h in listed] == [hook["id"]] and "secret" not in listed[0]
    assert client.get("/api/v1/webhooks", headers=bob).get_json()["items"] == []
    assert client.delete(f"/api/v1/webhooks/{hook['id']}", headers=bob).status_code == 404
    assert client.delete(f"/api/v1/webhooks/{hook['id']}", headers=alice).status_code == 204
    assert client.get("/api/v1/webhooks", headers=alice).get_json()["items"] == []


def test_the_secret_is_stored_encrypted_and_signs(app, client, auth):
    from webapp.extensions import db
    from webapp.models import Webhook
    from webapp.services.webhooks import secret_of, sign

    secret = client.post("/api/v1/webhooks", json={"url": "https://example.org/h"}, headers=auth).get_json()["secret"]
    with app.app_context():
        hook = db.session.scalars(db.select(Webhook)).one()
        assert secret not in hook.secret_enc and secret_of(hook) == secret
    import hashlib
    import hmac
    assert sign(secret, b"{}") == "sha256=" + hmac.new(secret.encode(), b"{}", hashlib.sha256).hexdigest()


def test_the_account_page_manages_webhooks(client, people):
    page = client.get("/account").get_data(as_text=True)
    assert "Webhooks" in page and "No webhooks yet." in page
    resp = post(client, "/account/webhooks", {"url": "https://example.org/hook", "events": "transcript.done"},
                htmx=True)
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert "whsec_" in html and "https://example.org/hook" in html
    assert "whsec_" not in client.get("/account").get_data(as_text=True)  # shown once
    bad = post(client, "/account/webhooks", {"url": "http://127.0.0.1/"}, htmx=True)
    assert bad.status_code == 422 and "WEBHOOK_ALLOW_PRIVATE" in bad.get_data(as_text=True)
    hook_id = client.get("/api/v1/webhooks", headers={"Authorization": f"Bearer {people['alice'][1]}"}
                         ).get_json()["items"][0]["id"]
    assert post(client, f"/account/webhooks/{hook_id}/delete", htmx=True).status_code == 200
    assert "No webhooks yet." in client.get("/account").get_data(as_text=True)


def test_settings_embedded_allows_private_targets_production_does_not(tmp_path):
    from webapp.settings import SettingsError, load

    embedded = load({"SCRIPTORIUM_DATA_DIR": str(tmp_path)}, services=False)
    assert embedded.webhook_allow_private and embedded.metrics_token is None and embedded.metrics_port is None
    prod = {"DATABASE_URL": "postgresql://u:p@db/x", "SCRIPTORIUM_DATA_DIR": str(tmp_path)}
    assert not load(prod, services=False).webhook_allow_private
    tuned = load({**prod, "WEBHOOK_ALLOW_PRIVATE": "true", "METRICS_TOKEN": "metrics-secret-xyz", "METRICS_PORT": "9101",
                  "PUBLIC_URL": "https://s.example.org/"}, services=False)
    assert tuned.webhook_allow_private and tuned.metrics_port == 9101 and tuned.public_url == "https://s.example.org"
    assert "metrics-secret-xyz" not in repr(tuned)  # the token stays out of logs
    for bad in ({"WEBHOOK_ALLOW_PRIVATE": "maybe"}, {"METRICS_PORT": "http"}, {"PUBLIC_URL": "example.org"}):
        with pytest.raises(SettingsError, match=next(iter(bad))):
            load({**prod, **bad}, services=False)
