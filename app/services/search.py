"""Full-text search over incident titles and summaries, post text and transition comments.

SQLite: the FTS5 tables of migration 0008 (``incidents_fts``, ``posts_fts``, ``notes_fts``), kept in step
by triggers. PostgreSQL: a stored ``search_vector`` column on each searched table (``to_tsvector('simple', …)``,
migration 0019, after 0008's expression indexes) with a GIN index, so no row's text is parsed at search time.

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

from app.models.counts import GROUP_BY_ID_INDEX

# The FTS5 tables and their shadow tables: Alembic's autogenerate must not see them (no model declares them).
FTS_TABLES = ("incidents_fts", "posts_fts", "notes_fts")
FTS_SHADOW_SUFFIXES = ("", "_data", "_idx", "_content", "_docsize", "_config")
# PostgreSQL: migration 0019's GIN indexes on the stored vectors, and the column itself (no model declares it).
SEARCH_INDEXES = ("ix_incidents_search_vector", "ix_posts_search_vector", "ix_audit_events_search_vector")
SEARCH_VECTOR = "search_vector"

MAX_TERMS = 8
MAX_TERM_LENGTH = 64
# Relevance ranking looks at this many of the newest matches from each source (titles, posts, notes), so a
# word found in half the incidents costs the same as a rare one; sorting by newest or due date sees all.
CANDIDATES = 300

WORD = re.compile(r"[^\W_]+")

# The stored vectors of migration 0019 (built with punctuation turned to spaces, so "<script>" or an e-mail
# address splits into words as in SQLite's unicode61 tokenizer).
PG_INCIDENT_TEXT = f"incidents.{SEARCH_VECTOR}"
PG_POST_TEXT = f"posts.{SEARCH_VECTOR}"
PG_NOTE_TEXT = f"audit_events.{SEARCH_VECTOR}"


def include_object(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    """Alembic ``include_object``: leave the search tables, columns and indexes, and the dashboards'
    group-by-id index (things the models cannot declare, or declare for one database only), out of
    autogenerate's comparison."""
    if type_ == "table" and name and any(name == f"{t}{s}" for t in FTS_TABLES for s in FTS_SHADOW_SUFFIXES):
        return False
    if type_ == "column" and name == SEARCH_VECTOR:
        return False
    return not (type_ == "index" and (name in SEARCH_INDEXES or name == GROUP_BY_ID_INDEX))


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


def common_sources(session: Session, terms: tuple[str, ...]) -> frozenset[str]:
    """SQLite: the FTS5 tables in which these terms match more than ``COMMON`` rows (not scored by bm25).
    PostgreSQL: none. With the vectors stored (migration 0019) its planner picks well between the GIN index and
    walking a table newest first until enough rows match (bench/RESULTS.md run 17: at most 17 ms a source, for
    words in 0.03% to 85% of posts), and ranking the few hundred candidates costs little."""
    if not terms or session.get_bind().dialect.name == "postgresql":
        return frozenset()
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


def _postgresql_sources(limit: int | None) -> str:
    # Scores as float8: a float4 read back as text would not round-trip through the page cursor.
    query = "plainto_tsquery('simple', :q)"

    def bound(table: str) -> str:
        return f" ORDER BY {table}.id DESC LIMIT :limit" if limit else ""

    def score(expression: str) -> str:
        return f"-ts_rank({expression}, {query})::float8"

    return (
        f"(SELECT incidents.id AS incident_id, {score(PG_INCIDENT_TEXT)} AS score"  # noqa: S608
        " FROM incidents"
        f" WHERE {PG_INCIDENT_TEXT} @@ {query}{bound('incidents')})"
        f" UNION ALL (SELECT posts.incident_id, {score(PG_POST_TEXT)} FROM posts"
        f" WHERE {PG_POST_TEXT} @@ {query}{bound('posts')})"
        f" UNION ALL (SELECT audit_events.incident_id, {score(PG_NOTE_TEXT)} FROM audit_events"
        f" WHERE audit_events.comment IS NOT NULL AND audit_events.incident_id IS NOT NULL"
        f" AND {PG_NOTE_TEXT} @@ {query}{bound('audit_events')})"
    )


def _sources(dialect: str, terms: tuple[str, ...], limit: int | None,
             common: frozenset[str] = frozenset()) -> TextClause:
    if dialect == "postgresql":
        statement = text(_postgresql_sources(limit)).bindparams(q=" ".join(terms))
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
