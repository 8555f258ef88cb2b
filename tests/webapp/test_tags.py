"""Tags: each person's own, put on inline from the list and the reader, offered back as suggestions, and used to
filter the list, search and the API. Nobody else ever sees them, even on a transcript shared with them."""
import re

import pytest
from webhelpers import login, post


@pytest.fixture
def library(people, make_transcript):
    alice = people["alice"][0]
    return {
        "budget": make_transcript(alice, title="Budget meeting"),
        "standup": make_transcript(alice, title="Standup", segments=[("SPEAKER_00", "The budget for the sprint.")]),
        "api": {"Authorization": f"Bearer {people['alice'][1]}"},
        "bob_api": {"Authorization": f"Bearer {people['bob'][1]}"},
    }


def _titles(html: str) -> list[str]:
    return re.findall(r'<a href="/transcripts/\d+">([^<]+)</a>', html)


def test_tags_added_inline_filter_the_list_and_are_suggested(client, library):
    tid = library["budget"]
    resp = post(client, f"/transcripts/{tid}/tags?where=row", {"name": "  Finance  "}, htmx=True)
    assert resp.status_code == 200 and f'id="tags-{tid}"' in resp.get_data(as_text=True)
    assert ">Finance</a>" in resp.get_data(as_text=True)
    # from the reader, the same tag in another case is the same tag
    resp = post(client, f"/transcripts/{library['standup']}/tags", {"name": "finance"}, htmx=True)
    assert ">Finance</a>" in resp.get_data(as_text=True) and 'list="tag-options"' in resp.get_data(as_text=True)
    post(client, f"/transcripts/{library['standup']}/tags", {"name": "Team"}, htmx=True)

    page = client.get("/").get_data(as_text=True)
    assert re.search(r'<datalist id="tag-options"><option value="Finance"><option value="Team"></datalist>', page)
    assert _titles(client.get("/?tag=team").get_data(as_text=True)) == ["Standup"]
    assert sorted(_titles(client.get("/?tag=FINANCE").get_data(as_text=True))) == ["Budget meeting", "Standup"]
    assert "tagged “Team”" in client.get("/?tag=Team").get_data(as_text=True)
    reader = client.get(f"/transcripts/{tid}").get_data(as_text=True)
    assert ">Finance</a>" in reader and "Team" in reader  # its tag, and the suggestion

    resp = post(client, f"/transcripts/{library['standup']}/tags/Team/delete", htmx=True)
    assert resp.status_code == 200 and "Team" not in resp.get_data(as_text=True)
    assert _titles(client.get("/?tag=team").get_data(as_text=True)) == []
    assert "Team" not in client.get("/").get_data(as_text=True)  # an unused tag is no longer suggested


def test_tags_through_the_api_and_search(client, library):
    api, tid = library["api"], library["budget"]
    assert client.put(f"/api/v1/transcripts/{tid}/tags/Finance", headers=api).get_json() == {"tags": ["Finance"]}
    resp = client.put(f"/api/v1/transcripts/{library['standup']}/tags", json={"tags": ["finance", "Sprint"]},
                      headers=api)
    assert resp.get_json() == {"tags": ["Finance", "Sprint"]}
    assert client.get("/api/v1/tags", headers=api).get_json() == {
        "tags": [{"name": "Finance", "transcripts": 2}, {"name": "Sprint", "transcripts": 1}]}
    items = client.get("/api/v1/transcripts?tag=sprint", headers=api).get_json()["items"]
    assert [(t["title"], t["tags"]) for t in items] == [("Standup", ["Finance", "Sprint"])]

    hits = client.get("/api/v1/search?q=budget", headers=api).get_json()["hits"]
    assert {h["title"] for h in hits} == {"Budget meeting", "Standup"}
    hits = client.get("/api/v1/search?q=budget&tag=Sprint", headers=api).get_json()["hits"]
    assert {h["title"] for h in hits} == {"Standup"}
    page = client.get("/search?q=budget&tag=sprint").get_data(as_text=True)
    assert "Standup" in page and "Budget meeting" not in page and '<option value="Sprint" selected>' in page

    assert client.delete(f"/api/v1/transcripts/{library['standup']}/tags/SPRINT", headers=api).get_json() == {
        "tags": ["Finance"]}
    for bad in ("", "x" * 65):
        resp = client.put(f"/api/v1/transcripts/{tid}/tags", json={"tags": [bad]}, headers=api)
        assert resp.status_code == 400 and "error" in resp.get_json()
    assert client.put(f"/api/v1/transcripts/{tid}/tags", json={"tags": "Finance"}, headers=api).status_code == 400
    assert client.get(f"/api/v1/transcripts/{tid}/tags", headers=api).get_json() == {"tags": ["Finance"]}


def test_another_account_never_sees_your_tags(app, client, library):
    api, bob_api, tid = library["api"], library["bob_api"], library["budget"]
    client.put(f"/api/v1/transcripts/{tid}/tags/Confidential", headers=api)
    client.post(f"/api/v1/transcripts/{tid}/shares", json={"user": "bob"}, headers=api)
    bob = app.test_client()
    assert login(bob, "bob", "bob-password").status_code == 302

    assert "Confidential" not in bob.get("/").get_data(as_text=True)
    assert "Confidential" not in bob.get(f"/transcripts/{tid}").get_data(as_text=True)
    assert bob.get("/api/v1/tags", headers=bob_api).get_json() == {"tags": []}
    assert bob.get(f"/api/v1/transcripts/{tid}", headers=bob_api).get_json()["tags"] == []
    assert bob.get("/api/v1/transcripts?tag=Confidential", headers=bob_api).get_json()["items"] == []
    assert bob.get("/api/v1/search?q=budget&tag=Confidential", headers=bob_api).get_json()["hits"] == []
    # bob's own tag on the shared transcript is his alone
    assert bob.put(f"/api/v1/transcripts/{tid}/tags/Read-later", headers=bob_api).get_json() == {
        "tags": ["Read-later"]}
    assert [t["title"] for t in bob.get("/api/v1/transcripts?tag=read-later", headers=bob_api)
            .get_json()["items"]] == ["Budget meeting"]
    assert client.get(f"/api/v1/transcripts/{tid}/tags", headers=api).get_json() == {"tags": ["Confidential"]}
    assert "Read-later" not in client.get("/").get_data(as_text=True)
    # and nobody tags what they cannot see
    assert bob.put(f"/api/v1/transcripts/{library['standup']}/tags/x", headers=bob_api).status_code == 404
