"""Full-text search over incident titles and summaries, post text and transition comments.

SQLite: the FTS5 tables of migration 0008 (``incidents_fts``, ``posts_fts``, ``notes_fts``), kept in step
by triggers. PostgreSQL: expression GIN indexes over ``to_tsvector('simple', …)`` in the same migration;
the expressions here must stay identical to the migration's so the planner uses those indexes.

What a user types never reaches the search engine as syntax: it is split into words (letters and digits
only) and each word becomes one quoted term (FTS5) or a plain-text query (PostgreSQL), all of which must
match. A query with no letters or digits yields no terms and the caller says so.

Visibility is the caller's job: these functions only give incident ids, which the queue joins to
``visible_incidents`` before anything is shown.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from markupsafe import Markup, escape
from sqlalchemy import Float, Integer, Select, TextClause, column, func, select, text
from sqlalchemy.orm import Session

from app.models.counts import SAMPLE_INDEX

# The FTS5 tables and their shadow tables: Alembic's autogenerate must not see them (no model declares them).
FTS_TABLES = ("incidents_fts", "posts_fts", "notes_fts")
FTS_SHADOW_SUFFIXES = ("", "_data", "_idx", "_content", "_docsize", "_config")
# The PostgreSQL expression indexes of migration 0008.
SEARCH_INDEXES = ("ix_incidents_search", "ix_posts_search", "ix_audit_events_search")

MAX_TERMS = 8
MAX_TERM_LENGTH = 64
# Relevance ranking looks at this many of the newest matches from each source (titles, posts, notes), so a
# word found in half the incidents costs the same as a rare one; sorting by newest or due date sees all.
CANDIDATES = 300

WORD = re.compile(r"[^\W_]+")

# Exactly the expressions of migration 0008's indexes (punctuation to spaces, so "<script>" or an e-mail
# address splits into words as in SQLite's unicode61 tokenizer).
PG_INCIDENT_TEXT = ("to_tsvector('simple', regexp_replace(coalesce(incidents.title, '') || ' ' || "
                    "coalesce(incidents.summary, ''), '[[:punct:]]', ' ', 'g'))")
PG_POST_TEXT = "to_tsvector('simple', regexp_replace(coalesce(posts.text, ''), '[[:punct:]]', ' ', 'g'))"
PG_NOTE_TEXT = "to_tsvector('simple', regexp_replace(coalesce(audit_events.comment, ''), '[[:punct:]]', ' ', 'g'))"


def include_object(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    """Alembic ``include_object``: leave the search tables and indexes, and the dashboard's sample index (all
    expression indexes the models cannot declare), out of autogenerate's comparison."""
    if type_ == "table" and name and any(name == f"{t}{s}" for t in FTS_TABLES for s in FTS_SHADOW_SUFFIXES):
        return False
    return not (type_ == "index" and (name in SEARCH_INDEXES or name == SAMPLE_INDEX))


def terms_of(query: str) -> tuple[str, ...]:
    """The words of ``query``, lower-cased, de-duplicated, in order; punctuation and syntax dropped."""
    seen: dict[str, None] = {}
    for match in WORD.finditer(query.casefold()):
        seen.setdefault(match.group()[:MAX_TERM_LENGTH], None)
        if len(seen) == MAX_TERMS:
            break
    return tuple(seen)


def fts5_query(terms: Iterable[str]) -> str:
    """An FTS5 MATCH string: every term quoted (so ``OR``, ``NEAR``, ``*``, ``:`` are plain words), all required."""
    return " ".join('"' + term.replace('"', '""') + '"' for term in terms)


# FTS5's bm25 first counts every row holding each term (a 600,000-row doclist at a million incidents: ~30 ms
# even for LIMIT 1). So a source where the words are in more than COMMON rows is not scored by bm25: its
# matches get score 0, after every bm25-scored match (bm25 is negative), newest first. A probe of at most
# COMMON + 1 rowids per source decides (well under a millisecond).
COMMON = 5000
SQLITE_SOURCES = ("incidents_fts", "posts_fts", "notes_fts")


# PostgreSQL: (source, the text expression of its GIN index). A GIN index returns its matches in no order, so the
# newest few of 600,000 matches cost reading all 600,000 (0.48 s at a million incidents); when the words are in
# a large share of a table, walking it newest first finds the newest matches sooner (0.06 s), though each row's
# text is parsed on the way (about 45 µs), so for a word in 4% of posts the walk is slower (0.4 s vs 0.16 s).
# The planner's estimates (from ANALYZE) say which: the walk where more than DENSE of the rows match.
PG_SOURCES = (("incidents", PG_INCIDENT_TEXT), ("posts", PG_POST_TEXT), ("audit_events", PG_NOTE_TEXT))
DENSE = 0.15


def common_sources(session: Session, terms: tuple[str, ...]) -> frozenset[str]:
    """SQLite: the FTS5 tables in which these terms match more than ``COMMON`` rows (not scored by bm25).
    PostgreSQL: the tables in which the planner expects more than COMMON matches, and more than DENSE of the
    rows (read newest first rather than through the GIN index, and not scored)."""
    if not terms:
        return frozenset()
    if session.get_bind().dialect.name == "postgresql":
        def estimate(sql: str) -> float:
            return float(session.execute(text(f"EXPLAIN (FORMAT JSON) {sql}"), {"q": " ".join(terms)})
                         .scalar_one()[0]["Plan"]["Plan Rows"])

        dense = set()
        for table, expression in PG_SOURCES:
            matches = estimate(f"SELECT 1 FROM {table} WHERE {expression} @@ plainto_tsquery('simple', :q)")  # noqa: S608
            if matches > COMMON and matches > DENSE * estimate(f"SELECT 1 FROM {table}"):  # noqa: S608
                dense.add(table)
        return frozenset(dense)
    match = fts5_query(terms)
    return frozenset(
        table for table in SQLITE_SOURCES
        if session.execute(text(f"SELECT count(*) FROM (SELECT rowid FROM {table} WHERE {table} MATCH :q "  # noqa: S608
                                "LIMIT :n)"), {"q": match, "n": COMMON + 1}).scalar_one() > COMMON
    )


# The SQL below is assembled from constants only; user text is always the bound parameter :q.
def _sqlite_sources(limit: int | None, common: frozenset[str] = frozenset()) -> str:
    bound = " ORDER BY rowid DESC LIMIT :limit" if limit else ""

    def score(table: str) -> str:
        return "0.0" if table in common else "rank"

    return (
        "SELECT f.id AS incident_id, f.score FROM"  # noqa: S608 - constants only
        f" (SELECT rowid AS id, {score('incidents_fts')} AS score FROM incidents_fts"
        f" WHERE incidents_fts MATCH :q{bound}) AS f"
        " UNION ALL SELECT posts.incident_id, f.score FROM"
        f" (SELECT rowid AS id, {score('posts_fts')} AS score FROM posts_fts WHERE posts_fts MATCH :q{bound}) AS f"
        " JOIN posts ON posts.id = f.id"
        " UNION ALL SELECT audit_events.incident_id, f.score FROM"
        f" (SELECT rowid AS id, {score('notes_fts')} AS score FROM notes_fts WHERE notes_fts MATCH :q{bound}) AS f"
        " JOIN audit_events ON audit_events.id = f.id"
    )


def _postgresql_sources(limit: int | None, common: frozenset[str] = frozenset()) -> str:
    # Scores as float8: a float4 read back as text would not round-trip through the page cursor.
    # "+ 0": without it the planner may walk the primary key backwards and rebuild each row's tsvector until
    # enough match, which for a word in a few percent of posts is hundreds of ms (bench: 620 ms vs 45 ms at
    # 100k). With it, the GIN index finds the matches and only those are sorted. For a word in more than COMMON
    # rows of a source (``common_sources``) that walk is what finds the newest matches at once, so it is kept
    # there, and those matches are not scored (score 0, newest first), as on SQLite.
    query = "plainto_tsquery('simple', :q)"

    def bound(table: str) -> str:
        return (f" ORDER BY {table}.id{'' if table in common else ' + 0'} DESC LIMIT :limit") if limit else ""

    def score(table: str, expression: str) -> str:
        return "0.0::float8" if table in common else f"-ts_rank({expression}, {query})::float8"

    return (
        f"(SELECT incidents.id AS incident_id, {score('incidents', PG_INCIDENT_TEXT)} AS score"  # noqa: S608
        " FROM incidents"
        f" WHERE {PG_INCIDENT_TEXT} @@ {query}{bound('incidents')})"
        f" UNION ALL (SELECT posts.incident_id, {score('posts', PG_POST_TEXT)} FROM posts"
        f" WHERE {PG_POST_TEXT} @@ {query}{bound('posts')})"
        f" UNION ALL (SELECT audit_events.incident_id, {score('audit_events', PG_NOTE_TEXT)} FROM audit_events"
        f" WHERE audit_events.comment IS NOT NULL AND audit_events.incident_id IS NOT NULL"
        f" AND {PG_NOTE_TEXT} @@ {query}{bound('audit_events')})"
    )


def _sources(dialect: str, terms: tuple[str, ...], limit: int | None,
             common: frozenset[str] = frozenset()) -> TextClause:
    if dialect == "postgresql":
        statement = text(_postgresql_sources(limit, common)).bindparams(q=" ".join(terms))
    else:
        statement = text(_sqlite_sources(limit, common)).bindparams(q=fts5_query(terms))
    return statement.bindparams(limit=limit) if limit else statement


def matching_ids(dialect: str, terms: tuple[str, ...]) -> Select:
    """Every incident whose title, summary, a post or a note has all the terms (for ``id IN (…)``)."""
    hits = _sources(dialect, terms, None).columns(column("incident_id", Integer), column("score", Float))
    return select(hits.subquery("search_hits").c.incident_id)


def ranked_candidates(dialect: str, terms: tuple[str, ...], limit: int = CANDIDATES,
                      common: frozenset[str] = frozenset()) -> Select:
    """(incident_id, score) for the newest ``limit`` matches of each source, best score (lowest) per
    incident; the caller joins it to the incidents a user may see and orders by score. Sources in ``common``
    (``common_sources``) are not scored."""
    hits = _sources(dialect, terms, limit, common).columns(column("incident_id", Integer), column("score", Float))
    sub = hits.subquery("search_hits")
    return select(sub.c.incident_id, func.min(sub.c.score).label("score")).group_by(sub.c.incident_id)


def highlight_html(value: str | None, terms: Iterable[str]) -> Markup:
    """``value`` HTML-escaped, with ``<mark>`` around each word that is one of ``terms``. The only place a
    search result's markup is made: everything from ``value`` goes through ``markupsafe.escape``."""
    value = value or ""
    wanted = set(terms)
    parts: list[Markup] = []
    position = 0
    for match in WORD.finditer(value):
        if match.group().casefold() in wanted:
            parts.append(escape(value[position : match.start()]))
            parts.append(Markup("<mark>{}</mark>").format(match.group()))
            position = match.end()
    parts.append(escape(value[position:]))
    return Markup("").join(parts)


def first_match(value: str | None, terms: Iterable[str]) -> int | None:
    wanted = set(terms)
    for match in WORD.finditer(value or ""):
        if match.group().casefold() in wanted:
            return match.start()
    return None


def snippet_html(value: str | None, terms: Iterable[str], width: int = 90) -> Markup | None:
    """About ``2 × width`` characters of ``value`` around its first matching word, highlighted; None if
    no word matches."""
    terms = tuple(terms)
    start = first_match(value, terms)
    if value is None or start is None:
        return None
    begin, end = max(0, start - width), min(len(value), start + width)
    # Cut at spaces so no word is shown half.
    if begin > 0:
        space = value.find(" ", begin, start)
        begin = space + 1 if space != -1 else begin
    if end < len(value):
        space = value.rfind(" ", start, end)
        end = space if space > start else end
    body = highlight_html(value[begin:end], terms)
    return Markup("{}{}{}").format("…" if begin > 0 else "", body, "…" if end < len(value) else "")
