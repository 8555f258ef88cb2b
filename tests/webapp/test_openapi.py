"""The API description is served, rendered, and names exactly the routes the app has."""
import re


def _spec_paths(spec):
    return {(path, method.upper()) for path, item in spec["paths"].items() for method in item}


def _app_paths(app):
    out = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/") or rule.endpoint.startswith("apidocs."):
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule[len("/api/v1"):])
        path = path.replace("{transcript_id}", "{id}").replace("{fmt}", "{format}")
        out |= {(path, m) for m in rule.methods - {"HEAD", "OPTIONS"}}
    return out


def test_spec_describes_every_api_route_and_no_other(client, app):
    resp = client.get("/api/v1/openapi.json")
    assert resp.status_code == 200
    spec = resp.get_json()
    assert spec["openapi"].startswith("3.")
    assert _spec_paths(spec) == _app_paths(app)


def test_docs_page_lists_the_operations(client, auth):
    from webhelpers import login

    login(client)
    page = client.get("/api/docs").get_data(as_text=True)
    assert "POST /transcripts" in page and "GET /transcripts/{id}/export.{format}" in page
