"""The interface in English, German, French and Spanish: Accept-Language, the header's switch (remembered, and
stronger than the browser's wish), English as the fallback, dates in the locale's format, complete catalogues."""
import re
from datetime import datetime, timezone
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from webhelpers import csrf

ROOT = Path(__file__).resolve().parents[2]
TRANSLATIONS = ROOT / "webapp" / "translations"
LOCALES = ("de", "fr", "es")


def html_lang(page: str) -> str:
    return re.search(r'<html lang="([^"]+)"', page).group(1)


def test_reader_renders_in_german(client, people, make_transcript):
    tid = make_transcript(people["alice"][0], names={"SPEAKER_00": "Dana"}, low=("Leeds",))
    page = client.get(f"/transcripts/{tid}", headers={"Accept-Language": "de-DE,de;q=0.9,en;q=0.5"}).get_data(as_text=True)
    assert html_lang(page) == "de"
    for text in (">Transkripte</a>", ">Suche</a>", ">Abmelden</button>", '<h2 id="speakers-heading">Sprecher</h2>',
                 ">Herunterladen</span>", "Dem gespielten Wort folgen", '<span class="badge done">fertig</span>',
                 'title="Geringe Sicherheit (20 %): Dieses Wort prüfen"', ">Bearbeiten</button>"):
        assert text in page, text
    for english in (">Transcripts</a>", ">Sign out</button>", "Follow the playing word", ">Edit</button>"):
        assert english not in page, english
    assert ">Dana</button>" in page and "Welcome" in page  # names and what was said are not translated
    # the recording is the same in every language: it does not vary by language (with "Accept-Language" added
    # to its Vary, the browser flow's player twice in three runs was not ready when tests/browser/test_web_flow.py
    # looked for its metadata)
    media = client.get(f"/transcripts/{tid}/media", headers={"Accept-Language": "de"})
    assert media.status_code == 200 and "Accept-Language" not in media.headers.get("Vary", "")


def test_upload_page_renders_in_german(client, people):
    resp = client.get("/", headers={"Accept-Language": "de"})
    assert "Accept-Language" in resp.headers["Vary"] and "Cookie" in resp.headers["Vary"]  # caches keep them apart
    page = resp.get_data(as_text=True)
    assert html_lang(page) == "de"
    for text in ("Aufnahmen transkribieren", "Automatisch erkennen", "Sprecher unterscheiden", "Ins Englische übersetzen",
                 "Audio- oder Videodateien hier ablegen", "Dateien auswählen…", "Noch nichts hier.",
                 '<option value="fr">Französisch</option>',  # transcription languages named in the page's language
                 'data-uploading="wird hochgeladen"'):  # upload.js's words travel in the page
        assert text in page, text
    assert "Transcribe recordings" not in page


@pytest.mark.parametrize("lang, texts", [
    ("fr", ("Transcrire des enregistrements", "Détecter automatiquement", "Déposez des fichiers audio ou vidéo ici",
            '<option value="de">allemand</option>', 'data-waiting="en attente"')),
    ("es", ("Transcribir grabaciones", "Detectar automáticamente", "Suelte aquí archivos de audio o vídeo",
            '<option value="de">alemán</option>', 'data-waiting="en espera"')),
])
def test_upload_page_renders_in_french_and_spanish(client, people, lang, texts):
    page = client.get("/", headers={"Accept-Language": f"{lang},en;q=0.3"}).get_data(as_text=True)
    assert html_lang(page) == lang
    for text in texts:
        assert text in page, text


def test_unknown_language_falls_back_to_english(client, people):
    for header in ("tlh", "xx-YY,zz;q=0.8", None):
        page = client.get("/", headers={"Accept-Language": header} if header else {}).get_data(as_text=True)
        assert html_lang(page) == "en" and "Transcribe recordings" in page and 'data-waiting="waiting"' in page


def test_the_switch_is_remembered_and_beats_accept_language(client, people):
    german = {"Accept-Language": "de"}
    answer = client.post("/language", data={"lang": "es", "next": "/account", "csrf_token": csrf(client)}, headers=german)
    assert answer.status_code == 302 and answer.headers["Location"] == "/account"
    for path in ("/", "/search", "/account"):  # every later request, whatever the browser asks for
        page = client.get(path, headers=german).get_data(as_text=True)
        assert html_lang(page) == "es", path
    assert "Transcribir grabaciones" in client.get("/", headers=german).get_data(as_text=True)
    # the switch shows where one is, and offers the others
    page = client.get("/").get_data(as_text=True)
    assert re.search(r'<button[^>]*value="es"[^>]*aria-current="true"', page)
    assert all(f'value="{code}"' in page for code in ("en", "de", "fr"))
    # back to English, and an unknown choice changes nothing
    client.post("/language", data={"lang": "en", "csrf_token": csrf(client)})
    assert html_lang(client.get("/", headers=german).get_data(as_text=True)) == "en"
    client.post("/language", data={"lang": "tlh", "csrf_token": csrf(client)})
    assert html_lang(client.get("/", headers=german).get_data(as_text=True)) == "en"


def test_the_switch_works_signed_out_on_the_login_page(client):
    page = client.get("/login").get_data(as_text=True)
    assert 'action="/language"' in page and html_lang(page) == "en"
    answer = client.post("/language", data={"lang": "fr", "next": "/login", "csrf_token": csrf(client)})
    assert answer.headers["Location"] == "/login"
    page = client.get("/login").get_data(as_text=True)
    assert html_lang(page) == "fr" and "<h1>Se connecter</h1>" in page
    # a wrong password is refused in French
    page = client.post("/login", data={"username": "nobody", "password": "x", "csrf_token": csrf(client)}).get_data(as_text=True)
    assert "Ce nom et ce mot de passe ne correspondent à aucun compte." in page


def test_the_switch_needs_the_form_token_and_stays_on_this_site(client):
    assert client.post("/language", data={"lang": "de"}).status_code == 403
    answer = client.post("/language", data={"lang": "de", "next": "https://evil.example/", "csrf_token": csrf(client)})
    assert answer.headers["Location"] == "/"


def test_messages_from_the_server_follow_the_language(client, people):
    from webhelpers import post

    bad = post(client, "/upload", data={"file": (__import__("io").BytesIO(b"hello"), "notes.txt")},
               headers={"Accept": "application/json", "Accept-Language": "de"})
    assert bad.get_json()["error"] == "keine Audio- oder Videodatei (text/plain)"
    # the JSON API keeps its English messages whatever the browser prefers
    api = client.get("/api/v1/transcripts/999999", headers={"Authorization": f"Bearer {people['alice'][1]}",
                                                            "Accept-Language": "de"})
    assert api.status_code == 404 and api.get_json()["error"] == "not found"


def test_dates_on_the_list_follow_the_locale(client, people, make_transcript):
    make_transcript(people["alice"][0], created_at=datetime(2026, 3, 7, 14, 5, tzinfo=timezone.utc))
    expected = {"en": "Mar 7, 2026, 2:05\u202fPM", "de": "07.03.2026, 14:05", "fr": "7 mars 2026, 14:05",
                "es": "7 mar 2026, 14:05"}
    for lang, text in expected.items():
        page = client.get("/", headers={"Accept-Language": lang}).get_data(as_text=True)
        assert f">{text}</time>" in page, (lang, re.findall(r"<time[^>]*>([^<]*)</time>", page))
        assert '<time datetime="2026-03-07T14:05:00+00:00">' in page  # the machine-readable moment is unchanged


def test_sign_in_wait_is_said_in_words_of_the_locale(client, people, app):
    from webapp.i18n import duration_words

    with app.test_request_context(headers={"Accept-Language": "de"}):
        assert duration_words(300) == "5 Minuten"
    with app.test_request_context(headers={"Accept-Language": "es"}):
        assert duration_words(45) == "45 segundos"
    with app.test_request_context():
        assert duration_words(3600) == "1 hour"


def _extracted() -> dict[str, tuple]:
    """Every translatable string in the code and templates now (what `pybabel extract -F babel.cfg` finds)."""
    method_map = [("webapp/**.py", "python"), ("templates/**.html", "jinja2")]
    keywords = {"_": None, "gettext": None, "ngettext": (1, 2), "lazy_gettext": None, "_l": None}
    found = {}
    for _file, _line, message, _comments, _context in extract_from_dir(str(ROOT), method_map, keywords=keywords):
        key = message if isinstance(message, str) else message[0]
        found[key] = message
    return found


def test_catalogues_translate_every_string():
    """A string added to the code or a template without translations fails here, naming what to do."""
    extracted = _extracted()
    assert len(extracted) > 150  # the extraction itself works (the templates are read)
    problems = []
    for lang in LOCALES:
        with open(TRANSLATIONS / lang / "LC_MESSAGES" / "messages.po", "rb") as f:
            catalogue = read_po(f, locale=lang)
        for msgid in extracted:
            m = catalogue.get(msgid)
            if m is None:
                problems.append(f"{lang}: not in the catalogue: {msgid!r}")
            elif m.fuzzy or not all(m.string if isinstance(m.string, tuple) else (m.string,)):
                problems.append(f"{lang}: untranslated or fuzzy: {msgid!r}")
        for m in catalogue:
            if m.id and not m.fuzzy and m.string:
                keys = set(re.findall(r"%\((\w+)\)", m.id if isinstance(m.id, str) else m.id[0]))
                for s in (m.string if isinstance(m.string, tuple) else (m.string,)):
                    if set(re.findall(r"%\((\w+)\)", s)) != keys:
                        problems.append(f"{lang}: placeholders differ in {m.id!r}")
    assert not problems, ("run `make translations` (pybabel extract + update), translate the new strings in "
                          "webapp/translations/*/LC_MESSAGES/messages.po, then compile; see the README's "
                          "'Languages of the interface':\n" + "\n".join(problems))


def test_compiled_catalogues_match_their_sources():
    """The committed .mo files are what `pybabel compile` makes of the .po files (no stale translations served)."""
    import io

    for lang in LOCALES:
        folder = TRANSLATIONS / lang / "LC_MESSAGES"
        with open(folder / "messages.po", "rb") as f:
            catalogue = read_po(f, locale=lang)
        compiled = io.BytesIO()
        write_mo(compiled, catalogue)
        assert (folder / "messages.mo").read_bytes() == compiled.getvalue(), (
            f"webapp/translations/{lang}/LC_MESSAGES/messages.mo is stale: run `make translations`")


def test_a_running_job_says_its_state_and_stage_in_the_language(client, people, make_transcript, app):
    from webapp.extensions import db
    from webapp.models import Transcript

    tid = make_transcript(people["alice"][0], status="running")
    with app.app_context():
        t = db.session.get(Transcript, tid)
        t.stage, t.progress = "align", 40
        db.session.commit()
    fragment = client.get(f"/transcripts/{tid}/status", headers={"Accept-Language": "de"}).get_data(as_text=True)
    assert '<span class="badge running">läuft</span>' in fragment and ">Ausrichtung</span>" in fragment
    english = client.get(f"/transcripts/{tid}/status").get_data(as_text=True)
    assert '<span class="badge running">running</span>' in english and ">align</span>" in english


def test_sharing_tags_collections_webhooks_and_recording_speak_german(client, people, make_transcript):
    """The features merged after the first translation (sharing, tags, collections, webhooks, the recorder) follow
    the page's language too; the JSON API still answers in English."""
    from webhelpers import post

    de = {"Accept-Language": "de"}
    tid = make_transcript(people["alice"][0])
    shared = post(client, f"/transcripts/{tid}/shares", data={"user": "bob", "role": "editor"}, htmx=True,
                  headers=de).get_data(as_text=True)
    for text in ('<h2 id="sharing-heading">Teilen</h2>', '<span class="badge">Bearbeiter</span>',
                 'aria-label="Nicht mehr mit bob teilen"', "Link zum Lesen erstellen", "Mit Konto teilen"):
        assert text in shared, text
    assert "Share with account" not in shared and "Revoke" not in shared
    refused = post(client, f"/transcripts/{tid}/shares", data={"user": "nobody"}, htmx=True, headers=de)
    assert refused.status_code == 400 and "kein Konto namens 'nobody'" in refused.get_data(as_text=True)
    api = client.post(f"/api/v1/transcripts/{tid}/shares", json={"user": "nobody"},
                      headers={"Authorization": f"Bearer {people['alice'][1]}", **de})
    assert api.status_code == 400 and api.get_json()["error"] == "there is no account named 'nobody'"

    page = client.get(f"/transcripts/{tid}", headers=de).get_data(as_text=True)
    for text in ("Neue Sammlung mit diesem Transkript", 'aria-label="Ihre Schlagwörter"', 'placeholder="+ Schlagwort"',
                 '<h2 id="collections-heading">Sammlungen</h2>'):
        assert text in page, text
    index = client.get("/", headers=de).get_data(as_text=True)
    for text in (">Aufnehmen</button>", 'data-recording="Aufnahme läuft…"',  # record.js's words travel in the page
                 'data-recorded-uploading="{time} aufgenommen. Wird hochgeladen…"'):
        assert text in index, text
    account = client.get("/account", headers=de).get_data(as_text=True)
    assert "Webhook hinzufügen" in account and "Noch keine Webhooks." in account and "Add webhook" not in account
    fr = client.get("/collections", headers={"Accept-Language": "fr"}).get_data(as_text=True)
    assert "Aucune collection pour l’instant." in fr and ">Créer</button>" in fr
