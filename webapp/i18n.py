"""The interface's languages (Flask-Babel): which one a request gets, the switch in the header, locale formats.

A request's language is, in order: the ``lang`` cookie the header's switch sets (a year; it works signed out and
survives signing in and out, which clear the session), else the best match in the browser's Accept-Language,
else English. The JSON API and the bucket hook always answer in English: scripts compare their messages.

Catalogues live in webapp/translations/<lang>/LC_MESSAGES/messages.po (compiled .mo beside them, committed);
the workflow to add a language or a string is in the README ("Languages of the interface").
"""
from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlparse

from babel import Locale
from flask import Blueprint, Flask, current_app, has_request_context, redirect, request, url_for
from flask_babel import Babel, format_date, format_time, format_timedelta, get_locale
from flask_babel import lazy_gettext as _l

# The interface's languages, each named in itself (what the switch shows). The first is the default.
LANGUAGES: dict[str, str] = {"en": "English", "de": "Deutsch", "fr": "Français", "es": "Español"}
DEFAULT = "en"
COOKIE = "lang"
COOKIE_MAX_AGE = 365 * 24 * 3600
ENGLISH_ONLY_PREFIXES = ("/api/", "/hooks/")
TRANSLATIONS = Path(__file__).parent / "translations"

# Job states as the pages show them (the database and the API keep the English words).
STATUS_NAMES = {
    "queued": _l("queued"), "running": _l("running"), "done": _l("done"), "failed": _l("failed"),
    "cancelled": _l("cancelled"),
}
# A running job's stage (worker/tasks.py writes the English word; webapp.models.transcript.STAGES).
STAGE_NAMES = {
    "fetch": _l("fetch"), "decode": _l("decode"), "transcribe": _l("transcribe"), "align": _l("align"),
    "diarize": _l("diarize"), "store": _l("store"),
}

bp = Blueprint("i18n", __name__)
babel = Babel()


def select_locale() -> str:
    """The language of this request (see the module docstring)."""
    if not has_request_context() or request.path.startswith(ENGLISH_ONLY_PREFIXES):
        return DEFAULT
    chosen = request.cookies.get(COOKIE)
    if chosen in LANGUAGES:
        return chosen
    return request.accept_languages.best_match(list(LANGUAGES)) or DEFAULT


@bp.post("/language")
def choose():
    """The header's switch: remember the language in a cookie and go back to the page it was used on."""
    lang = request.form.get("lang", "")
    target = request.form.get("next") or request.referrer or ""
    parsed = urlparse(target)
    same_site = not parsed.scheme and not parsed.netloc and target.startswith("/") and not target.startswith("//")
    if not same_site and target.startswith(request.host_url):
        target, same_site = "/" + target[len(request.host_url):], True
    resp = redirect(target if same_site else url_for("pages.index"))
    if lang in LANGUAGES:
        resp.set_cookie(COOKIE, lang, max_age=COOKIE_MAX_AGE, httponly=True, samesite="Lax",
                        secure=current_app.config.get("SESSION_COOKIE_SECURE", False))
    return resp


def status_name(status: str | None) -> str:
    """A job state in the page's language."""
    return str(STATUS_NAMES.get(status or "", status or ""))


def stage_name(stage: str | None) -> str:
    """A running job's stage in the page's language (an unknown one as it is)."""
    return str(STAGE_NAMES.get(stage or "", stage or ""))


def language_name(code: str, fallback: str | None = None) -> str:
    """A transcription language's name in the page's language ("de" -> "German", "Deutsch", "allemand"...)."""
    try:
        name = get_locale().languages.get(code) if get_locale() else None
    except Exception:  # noqa: BLE001  (an odd code: show what we were given)
        name = None
    return name or fallback or code


def when(value: datetime | None) -> str:
    """A moment as the locale writes it, with the date spelt out so no day/month order is in doubt:
    "Nov 30, 2026, 10:33 AM", "30.11.2026, 10:33", "30 nov. 2026, 10:33"."""
    if value is None:
        return ""
    locale = get_locale() or Locale.parse(DEFAULT)
    pattern = locale.datetime_formats.get("medium", "{1}, {0}")
    pattern = getattr(pattern, "pattern", pattern)
    return str(pattern).replace("'", "").format(format_time(value, "short"), format_date(value, "medium"))


def day(value: datetime | None) -> str:
    """A date as the locale writes it ("Nov 30, 2026", "30.11.2026")."""
    return format_date(value, "medium") if value is not None else ""


def duration_words(seconds: float) -> str:
    """A length of time in words, rounded as people say it ("about 5 minutes": "5 Minuten", "5 minutes")."""
    return format_timedelta(timedelta(seconds=seconds), threshold=1.0)


def init_app(app: Flask) -> None:
    app.config.setdefault("BABEL_DEFAULT_LOCALE", DEFAULT)
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(TRANSLATIONS))
    babel.init_app(app, locale_selector=select_locale)
    app.register_blueprint(bp)
    app.add_template_filter(status_name, "status_name")
    app.add_template_filter(stage_name, "stage_name")
    app.add_template_filter(language_name, "language_name")
    app.add_template_filter(when, "when")
    app.add_template_filter(day, "day")

    @app.context_processor
    def _languages():
        return {"interface_languages": LANGUAGES, "interface_language": str(get_locale() or DEFAULT)}

    @app.after_request
    def _vary(resp):
        """Words differ by language: a cache must keep pages and messages apart (not media, not static files)."""
        if resp.mimetype in ("text/html", "text/plain", "application/json") and \
                not request.path.startswith(("/static/", *ENGLISH_ONLY_PREFIXES)):
            resp.vary.add("Accept-Language")
            resp.vary.add("Cookie")
        return resp
