"""Full-text search over segments with PostgreSQL: websearch_to_tsquery, ts_rank, ts_headline.

The query runs in steps so it stays fast on a large library (bench/search_bench.py, docs/benchmarks.md): the
GIN index finds the matching segments, at most CANDIDATES of them are ranked with ts_rank and cut to one page,
and only that page is highlighted (ts_headline re-parses the text, so it must never run on every match).
The cap bounds a query of very common words (tens of thousands of matching segments, each a heap row to read
and rank): such a query ranks the first CANDIDATES matches found, not all of them.

Languages (issue 14): each segment is indexed with its own language's configuration (webapp.models.transcript.
TSV_SQL). A query is read in each configuration the library holds (the search_configs table, kept by triggers
on segments), each reading's lexemes are qualified by their configuration ('german:haus') and OR-ed, and the
GIN index is on the segments' lexemes qualified the same way (search_key_sql): a German reading finds German
segments only, so a German word finds its German inflections and an English word its English ones, and the
candidates are exactly the hits (a German reading of an English word no longer fills them with English
segments). Each hit is ranked and highlighted with its own language's reading, so a minus or a phrase means
what it says in that language. Chinese and Japanese characters are indexed one by one, and a run of them in a
query is searched as a phrase, so two characters find them.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from markupsafe import Markup, escape
from sqlalchemy import text

from webapp.extensions import db
from webapp.models import User
from webapp.models.transcript import CJK_CLASS, search_key_sql, ts_config_name_sql, ts_config_sql, ts_text_sql
from webapp.services import tags, transcripts

START, STOP = "\ue000", "\ue001"  # private-use marks: escaped text can never contain a real <mark>
HEADLINE_OPTS = f"StartSel={START}, StopSel={STOP}, MaxWords=40, MinWords=16, ShortWord=2, MaxFragments=0"
CANDIDATES = 2000  # docs/benchmarks.md: 5,000 kept a query of very common words over 50 ms at p95
_CJK_RUN = re.compile(f"{CJK_CLASS}+")
_CJK_SPACE = re.compile(f" +(?={CJK_CLASS}|[{START}{STOP}])|(?<={CJK_CLASS}|[{START}{STOP}]) +")


def query_text(q: str) -> str:
    """The query as the index sees text: a run of CJK characters becomes a phrase of single characters."""
    quoted = '"' in q
    return _CJK_RUN.sub(lambda m: (" {} " if quoted else ' "{}" ').format(" ".join(m.group())), q).strip()


@dataclass
class Filters:
    speaker: str | None = None
    language: str | None = None
    date_from: date | None = None
    date_to: date | None = None
    tag: str | None = None  # one of the searching person's own tags
    person_id: int | None = None  # segments spoken by this person (named or recognised, not merely suggested)

    def active(self) -> bool:
        return any((self.speaker, self.language, self.date_from, self.date_to, self.tag, self.person_id))


@dataclass
class Hit:
    transcript_id: int
    title: str
    segment_id: int
    start: float
    end: float
    speaker: str | None
    language: str | None
    created_at: datetime
    rank: float
    snippet: Markup = field(default_factory=Markup)

    def as_dict(self) -> dict[str, Any]:
        return {"transcript_id": self.transcript_id, "title": self.title, "segment_id": self.segment_id,
                "start": self.start, "end": self.end, "speaker": self.speaker, "language": self.language,
                "rank": round(self.rank, 6), "snippet": str(self.snippet)}


def highlight(raw: str) -> Markup:
    """ts_headline output (plain text with private-use marks) as safe HTML with <mark> tags."""
    if _CJK_RUN.search(raw):  # the headline ran on the indexed form: close up the CJK characters again
        raw = _CJK_SPACE.sub("", raw)
    return Markup(str(escape(raw)).replace(START, "<mark>").replace(STOP, "</mark>"))


def parse_date(raw: str | None) -> date | None:
    try:
        return date.fromisoformat(raw) if raw else None
    except ValueError:
        return None


# Step 1: the query read in each configuration the library's segments are indexed with (search_configs, kept by
# triggers on segments), dropping the readings that could not use the index (only stop words, only exclusions).
# The readings go back into step 2 as constants, so the planner sees the real tsquery.
PARSE_SQL = """
SELECT config, reading::text FROM (
    SELECT config, websearch_to_tsquery(config::regconfig, :q) AS reading FROM search_configs
) r
WHERE querytree(reading) NOT IN ('', 'T')
ORDER BY config
"""

# Step 2: each reading's lexemes qualified by its configuration ('german:haus') and OR-ed, matched against the
# index on the segments' qualified lexemes (search_key_sql): a German reading finds German segments only, so the
# candidates are exact and the cap never fills with another language's segments. Each hit is ranked and
# highlighted with its own language's reading (own).
SQL = """
WITH hits AS MATERIALIZED (
    SELECT c.id, c.transcript_id, c.start, c."end", c.speaker, c.text, c.language, c.own,
           ts_rank(c.tsv, c.own) AS rank
    FROM (
        SELECT s.id, s.transcript_id, s.start, s."end", s.speaker, s.text, s.language, s.tsv,
               {own} AS own
        FROM segments s
        JOIN transcripts t ON t.id = s.transcript_id
        {speaker_join}
        WHERE {key} @@ CAST(:query AS tsquery) {where}
        LIMIT :candidates
    ) c
    ORDER BY rank DESC, c.transcript_id DESC, c.start
    LIMIT :limit OFFSET :offset
)
SELECT h.id, h.transcript_id, h.start, h."end", h.rank, t.title, t.language, t.created_at,
       coalesce(sp.display_name, h.speaker) AS speaker,
       h.language AS segment_language,
       ts_headline({config}, {indexed}, h.own, :opts) AS snippet
FROM hits h
JOIN transcripts t ON t.id = h.transcript_id
LEFT JOIN speakers sp ON sp.transcript_id = h.transcript_id AND sp.label = h.speaker
ORDER BY h.rank DESC, h.transcript_id DESC, h.start
"""
_LEXEME = re.compile(r"'((?:[^']|'')*)'")  # a quoted lexeme in a tsquery's text form ('' is a quote inside)


def own_reading_sql(table: str = "s") -> str:
    """SQL: the query's reading in the row's own language's configuration."""
    return ("(CAST(:readings AS tsquery[]))[array_position(CAST(:configs AS text[]), "
            f"{ts_config_name_sql(table + '.language')})]")


def qualified(readings: list[tuple[str, str]]) -> str | None:
    """One tsquery (text): each configuration's reading with its lexemes qualified by the configuration, OR-ed;
    None when there is no reading (only stop words)."""
    parts = [_LEXEME.sub(lambda m, cfg=cfg: f"'{cfg}:{m.group(1)}'", reading) for cfg, reading in readings]
    return " | ".join(f"({p})" for p in parts) if parts else None


def search_sql(*, where: list[str] | None = None, speaker_join: str = "", readings: list[tuple[str, str]]) -> str:
    """Step 2's SQL for these filters. An exclusion ("-word": NOT in a tsquery) is the one thing the qualified
    index does not decide alone (a segment of another language lacks the excluded word too), so only then is
    each candidate also matched with its own language's reading, before the cap."""
    if any("!" in _LEXEME.sub("", reading) for _, reading in readings):
        # the check must come before the cap, or other languages' segments would use it up
        where = [*(where or []), f"s.tsv @@ {own_reading_sql('s')}"]
    return SQL.format(speaker_join=speaker_join, where="".join(f" AND {w}" for w in where or []),
                      key=search_key_sql("s"), own=own_reading_sql("s"),
                      config=ts_config_sql("h.language"), indexed=ts_text_sql("h.text"))


def search(user: User, q: str, filters: Filters | None = None, *, limit: int = 20, offset: int = 0) -> list[Hit]:
    """Ranked hits among the transcripts ``user`` may see (their own and those shared with them; an admin sees
    all)."""
    q = (q or "").strip()
    if not q:
        return []
    filters = filters or Filters()
    offset = min(offset, CANDIDATES)  # hits come from at most CANDIDATES matches: past them there are none
    readings = [tuple(r) for r in db.session.execute(text(PARSE_SQL), {"q": query_text(q[:500])})]
    query = qualified(readings)
    if query is None:
        return []
    where, params = [], {"query": query, "configs": [c for c, _ in readings], "readings": [r for _, r in readings],
                         "limit": limit, "offset": offset, "opts": HEADLINE_OPTS, "candidates": CANDIDATES}
    speaker_join = ""
    params["uid"] = user.id
    if not user.is_admin:
        where.append(transcripts.may_see_sql("t"))
    if filters.tag:
        where.append(tags.tagged_sql("t"))
        params["tag"] = filters.tag
    if filters.speaker:
        speaker_join = "JOIN speakers fsp ON fsp.transcript_id = s.transcript_id AND fsp.label = s.speaker"
        where.append("coalesce(fsp.display_name, fsp.label) ILIKE :speaker")
        params["speaker"] = "%" + filters.speaker.replace("\\", "\\\\").replace("%", r"\%").replace("_", r"\_") + "%"
    if filters.person_id:
        where.append("EXISTS (SELECT 1 FROM speakers psp WHERE psp.transcript_id = s.transcript_id"
                     " AND psp.label = s.speaker AND psp.person_id = :person_id"
                     " AND psp.match IS DISTINCT FROM 'suggested')")
        params["person_id"] = filters.person_id
    if filters.language:
        where.append("s.language = :language")  # the segment's own: a German passage in an English meeting
        params["language"] = filters.language
    if filters.date_from:
        where.append("t.created_at >= :date_from")
        params["date_from"] = filters.date_from
    if filters.date_to and filters.date_to < date.max:  # the last day there is bounds nothing
        where.append("t.created_at < :date_to")
        params["date_to"] = filters.date_to + timedelta(days=1)
    sql = search_sql(where=where, speaker_join=speaker_join, readings=readings)
    rows = db.session.execute(text(sql), params).mappings().all()
    return [Hit(transcript_id=r["transcript_id"], title=r["title"], segment_id=r["id"], start=r["start"],
                end=r["end"], speaker=r["speaker"], language=r["segment_language"] or r["language"],
                created_at=r["created_at"],
                rank=r["rank"], snippet=highlight(r["snippet"])) for r in rows]


def languages(user: User) -> list[str]:
    """Languages of the transcripts the user may see, for the filter menu."""
    sql = "SELECT DISTINCT language FROM transcripts WHERE language IS NOT NULL"
    params: dict[str, Any] = {}
    if not user.is_admin:
        sql += " AND " + transcripts.may_see_sql("transcripts")
        params["uid"] = user.id
    return sorted(db.session.scalars(text(sql + " ORDER BY language LIMIT 50"), params))
