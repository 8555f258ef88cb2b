"""Search across transcripts: websearch syntax, ranking, highlighted and escaped snippets, filters, visibility,
the page and its htmx fragment, and GET /api/v1/search."""
from datetime import datetime, timedelta, timezone

from webhelpers import login, post


def titles(html: str) -> list[str]:
    import re
    return re.findall(r'<span class="hit-title">([^<]*)</span>', html)


def test_search_finds_ranks_and_highlights(client, people, make_transcript):
    alice = people["alice"][0]
    make_transcript(alice, title="Warehouse plans", segments=[
        ("SPEAKER_00", "The warehouse in Leeds needs a new warehouse manager for the warehouse."),
        ("SPEAKER_00", "Nothing about storage here.")])
    make_transcript(alice, title="Budget", segments=[("SPEAKER_00", "We might rent a warehouse next year.")])
    page = client.get("/search?q=warehouse").get_data(as_text=True)
    assert titles(page) == ["Warehouse plans", "Budget"]  # more mentions rank higher
    assert "<mark>warehouse</mark>" in page and "/transcripts/" in page and "?t=0.00" in page
    # websearch syntax: a phrase, "or", and a minus.
    assert titles(client.get('/search?q="rent a warehouse"').get_data(as_text=True)) == ["Budget"]
    assert titles(client.get('/search?q=warehouse -leeds').get_data(as_text=True)) == ["Budget"]
    assert sorted(titles(client.get('/search?q=storage or rent').get_data(as_text=True))) == ["Budget", "Warehouse plans"]
    # Stemming: "warehouses" finds "warehouse".
    assert len(titles(client.get("/search?q=warehouses").get_data(as_text=True))) == 2


def test_hit_links_to_the_moment(client, people, make_transcript):
    tid = make_transcript(people["alice"][0])
    page = client.get("/search?q=warehouse+leeds").get_data(as_text=True)
    # Third segment starts after 6 + 8 words (0.4 s each) and two 0.5 s pauses: 6.6 s.
    assert f'href="/transcripts/{tid}?t=6.60"' in page and "at 0:06" in page


def test_snippets_are_escaped(client, people, make_transcript):
    make_transcript(people["alice"][0], segments=[("SPEAKER_00", "<script>alert('x')</script> secret plans <b>bold</b>")])
    page = client.get("/search?q=secret").get_data(as_text=True)
    # ts_headline drops markup-like tokens, and what is left is escaped: only our <mark> tags are HTML.
    assert "<script>alert" not in page and "<b>bold" not in page and "<mark>secret</mark>" in page
    assert "alert(&#39;x&#39;)" in page


def test_filters_speaker_language_and_dates(client, people, make_transcript):
    alice = people["alice"][0]
    old = datetime.now(timezone.utc) - timedelta(days=40)
    make_transcript(alice, title="Old German", language="de", created_at=old,
                    segments=[("SPEAKER_00", "The harbour project is late.")])
    make_transcript(alice, title="New English", names={"SPEAKER_01": "Ada Lovelace"},
                    segments=[("SPEAKER_00", "The harbour opens soon."), ("SPEAKER_01", "The harbour is lovely.")])
    assert sorted(titles(client.get("/search?q=harbour").get_data(as_text=True))) == ["New English", "New English", "Old German"]
    assert titles(client.get("/search?q=harbour&language=de").get_data(as_text=True)) == ["Old German"]
    assert titles(client.get("/search?q=harbour&speaker=lovelace").get_data(as_text=True)) == ["New English"]
    cutoff = (datetime.now(timezone.utc) - timedelta(days=10)).date().isoformat()
    assert titles(client.get(f"/search?q=harbour&to={cutoff}").get_data(as_text=True)) == ["Old German"]
    assert sorted(set(titles(client.get(f"/search?q=harbour&from={cutoff}").get_data(as_text=True)))) == ["New English"]
    assert titles(client.get("/search?q=harbour&from=not-a-date").get_data(as_text=True))  # ignored, not an error
    page = client.get("/search?q=harbour&speaker=nobody").get_data(as_text=True)
    assert "matching these filters" in page


def test_people_search_only_what_they_may_see(client, people, make_transcript):
    make_transcript(people["alice"][0], title="Alice talk", segments=[("SPEAKER_00", "The zeppelin lands.")])
    make_transcript(people["bob"][0], title="Bob talk", segments=[("SPEAKER_00", "The zeppelin departs.")])
    assert titles(client.get("/search?q=zeppelin").get_data(as_text=True)) == ["Alice talk"]
    post(client, "/logout")
    login(client, "admin", "admin-password")
    assert sorted(titles(client.get("/search?q=zeppelin").get_data(as_text=True))) == ["Alice talk", "Bob talk"]


def test_search_page_states_and_htmx_fragment(client, people, make_transcript):
    empty = client.get("/search").get_data(as_text=True)
    assert "Type a few words" in empty and 'id="q"' in empty
    assert "No transcript says “nothing”" in client.get("/search?q=nothing").get_data(as_text=True)
    make_transcript(people["alice"][0])
    frag = client.get("/search?q=budget", headers={"HX-Request": "true", "HX-Target": "results"})
    body = frag.get_data(as_text=True)
    assert "<html" not in body and "<mark>budget</mark>" in body and "HX-Request" in frag.headers["Vary"]
    assert client.get("/search?q=the").status_code == 200  # only stop words: no hits, no error
    post(client, "/logout")
    assert client.get("/search?q=budget").status_code == 302


def test_search_paginates(client, people, make_transcript):
    make_transcript(people["alice"][0], segments=[("SPEAKER_00", f"Pelican number {i}.") for i in range(25)])
    first = client.get("/search?q=pelican").get_data(as_text=True)
    assert first.count('class="hit"') == 20 and "More results" in first
    second = client.get("/search?q=pelican&page=2").get_data(as_text=True)
    assert second.count('class="hit"') == 5 and "Better matches" in second


def test_search_api(client, people, make_transcript):
    tid = make_transcript(people["alice"][0], names={"SPEAKER_01": "Sam"})
    make_transcript(people["bob"][0], title="Bob's")
    assert client.get("/api/v1/search?q=budget").status_code == 401
    headers = {"Authorization": f"Bearer {people['alice'][1]}"}
    resp = client.get("/api/v1/search?q=marketing budget", headers=headers)
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["query"] == "marketing budget" and len(body["hits"]) == 1
    hit = body["hits"][0]
    assert hit["transcript_id"] == tid and hit["speaker"] == "Sam" and hit["start"] == 2.9
    assert "<mark>marketing</mark> <mark>budget</mark>" in hit["snippet"]
    assert hit["url"].endswith(f"/transcripts/{tid}?t=2.9")
    assert len(client.get("/api/v1/search?q=budget", headers=headers).get_json()["hits"]) == 2
    admin = {"Authorization": f"Bearer {people['admin'][1]}"}
    assert len(client.get("/api/v1/search?q=budget", headers=admin).get_json()["hits"]) == 4
    assert client.get("/api/v1/search", headers=headers).status_code == 400
    limited = client.get("/api/v1/search?q=budget&limit=1&offset=1", headers=headers).get_json()
    assert len(limited["hits"]) == 1 and limited["offset"] == 1
