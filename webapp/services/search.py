"""Full-text search over segments with PostgreSQL: websearch_to_tsquery, ts_rank, ts_headline.

The query runs in steps so it stays fast on a large library (bench/search_bench.py, docs/benchmarks.md): the
GIN index finds the matching segments, at most CANDIDATES of them are ranked with ts_rank and cut to one page,
and only that page is highlighted (ts_headline re-parses the text, so it must never run on every match).
The cap bounds a query of very common words (tens of thousands of matching segments, where ranking alone
costs ~200 ms on 1,000 hours): such a query ranks the first CANDIDATES matches found, not all of them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from markupsafe import Markup, escape
from sqlalchemy import text

from webapp.extensions import db
from webapp.models import User
from webapp.services import tags, transcripts

START, STOP = "\ue000", "\ue001"  # private-use marks: escaped text can never contain a real <mark>
HEADLINE_OPTS = f"StartSel={START}, StopSel={STOP}, MaxWords=40, MinWords=16, ShortWord=2, MaxFragments=0"
CANDIDATES = 5000


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
    return Markup(str(escape(raw)).replace(START, "<mark>").replace(STOP, "</mark>"))


def parse_date(raw: str | None) -> date | None:
    try:
        return date.fromisoformat(raw) if raw else None
    except ValueError:
        return None


SQL = """
WITH q AS (SELECT websearch_to_tsquery('english', :q) AS query),
hits AS MATERIALIZED (
    SELECT c.id, c.transcript_id, c.start, c."end", c.speaker, c.text, ts_rank(c.tsv, q.query) AS rank
    FROM (
        SELECT s.id, s.transcript_id, s.start, s."end", s.speaker, s.text, s.tsv
        FROM segments s
        JOIN transcripts t ON t.id = s.transcript_id
        {speaker_join}
        CROSS JOIN q
        WHERE s.tsv @@ q.query {where}
        LIMIT :candidates
    ) c
    CROSS JOIN q
    ORDER BY rank DESC, c.transcript_id DESC, c.start
    LIMIT :limit OFFSET :offset
)
SELECT h.id, h.transcript_id, h.start, h."end", h.rank, t.title, t.language, t.created_at,
       coalesce(sp.display_name, h.speaker) AS speaker,
       ts_headline('english', h.text, q.query, :opts) AS snippet
FROM hits h
JOIN transcripts t ON t.id = h.transcript_id
LEFT JOIN speakers sp ON sp.transcript_id = h.transcript_id AND sp.label = h.speaker
CROSS JOIN q
ORDER BY h.rank DESC, h.transcript_id DESC, h.start
"""


def search(user: User, q: str, filters: Filters | None = None, *, limit: int = 20, offset: int = 0) -> list[Hit]:
    """Ranked hits among the transcripts ``user`` may see (their own and those shared with them; an admin sees
    all)."""
    q = (q or "").strip()
    if not q:
        return []
    filters = filters or Filters()
    offset = min(offset, CANDIDATES)  # hits come from at most CANDIDATES matches: past them there are none
    where, params = [], {"q": q[:500], "limit": limit, "offset": offset, "opts": HEADLINE_OPTS,
                         "candidates": CANDIDATES}
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
        where.append("t.language = :language")
        params["language"] = filters.language
    if filters.date_from:
        where.append("t.created_at >= :date_from")
        params["date_from"] = filters.date_from
    if filters.date_to and filters.date_to < date.max:  # the last day there is bounds nothing
        where.append("t.created_at < :date_to")
        params["date_to"] = filters.date_to + timedelta(days=1)
    sql = SQL.format(speaker_join=speaker_join, where="".join(f" AND {w}" for w in where))
    rows = db.session.execute(text(sql), params).mappings().all()
    return [Hit(transcript_id=r["transcript_id"], title=r["title"], segment_id=r["id"], start=r["start"],
                end=r["end"], speaker=r["speaker"], language=r["language"], created_at=r["created_at"],
                rank=r["rank"], snippet=highlight(r["snippet"])) for r in rows]


def languages(user: User) -> list[str]:
    """Languages of the transcripts the user may see, for the filter menu."""
    sql = "SELECT DISTINCT language FROM transcripts WHERE language IS NOT NULL"
    params: dict[str, Any] = {}
    if not user.is_admin:
        sql += " AND " + transcripts.may_see_sql("transcripts")
        params["uid"] = user.id
    return sorted(db.session.scalars(text(sql + " ORDER BY language LIMIT 50"), params))
