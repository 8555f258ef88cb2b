"""/healthz tells the truth about each part."""
from webapp import create_app
from webapp import settings as settings_mod


def test_healthz_ok(client):
    resp = client.get("/healthz")
    assert resp.status_code == 200
    assert resp.get_json() == {"status": "ok", "database": "ok", "queue": "ok", "storage": "ok"}


def test_healthz_names_what_is_down(test_env, _schema):
    from scriptorium.embedded import free_port

    env = dict(test_env, REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there
    app = create_app({"TESTING": True}, settings=settings_mod.load(env))
    resp = app.test_client().get("/healthz")
    assert resp.status_code == 503
    body = resp.get_json()
    assert body["database"] == "ok" and body["storage"] == "ok"
    assert body["queue"].startswith("down") and body["status"] == "down: queue"
