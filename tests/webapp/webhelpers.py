"""Helpers for the web page tests: signing in, the CSRF token, posting as a browser would."""


def login(client, name: str = "admin", password: str = "admin-password"):
    """Sign in through the form, with the CSRF token the form carries."""
    return client.post("/login", data={"username": name, "password": password, "csrf_token": csrf(client)})


def csrf(client) -> str:
    """The session's CSRF token (created as a page would create it)."""
    with client.session_transaction() as sess:
        sess.setdefault("csrf", "test-csrf-token")
        return sess["csrf"]


def post(client, url: str, data: dict | None = None, htmx: bool = False, **kw):
    headers = {"X-CSRF-Token": csrf(client), **({"HX-Request": "true"} if htmx else {}), **kw.pop("headers", {})}
    return client.post(url, data=data or {}, headers=headers, **kw)
