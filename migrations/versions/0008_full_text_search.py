"""full-text search over incident titles and summaries, post text and transition comments

SQLite: three external-content FTS5 tables (``incidents_fts``, ``posts_fts``, ``notes_fts``) that read
their text from ``incidents``, ``posts`` and ``audit_events`` and are kept in step by triggers. The
models do not declare them (app/services/search.py names them for Alembic's ``include_object``).
Caution for later migrations: a batch ALTER of ``incidents``, ``posts`` or ``audit_events`` on SQLite
recreates the table and drops its triggers; such a migration must create the triggers again
(``_sqlite_triggers`` below) and run ``INSERT INTO <fts>(<fts>) VALUES ('rebuild')``.

PostgreSQL: expression GIN indexes over ``to_tsvector('simple', …)``; the search service uses the same
expressions, so the planner uses them. 'simple' (no stemming, accents kept) matches SQLite's unicode61
tokenizer with remove_diacritics 0, so both databases find the same rows for the same words.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23 20:00:00
"""
from collections.abc import Sequence

from alembic import op

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (fts table, content table, indexed columns, the rows that are indexed)
_SQLITE_SOURCES = (
    ("incidents_fts", "incidents", ("title", "summary"), "1"),
    ("posts_fts", "posts", ("text",), "{row}.text IS NOT NULL"),
    ("notes_fts", "audit_events", ("comment",), "{row}.comment IS NOT NULL AND {row}.incident_id IS NOT NULL"),
)

# ASCII punctuation becomes a space first: PostgreSQL's parser would otherwise read "<script>" as a tag, an
# e-mail address or URL as one token, and so on, where SQLite's unicode61 sees plain words.
_PG_INDEXES = (
    ("ix_incidents_search", "incidents",
     "to_tsvector('simple', regexp_replace(coalesce(title, '') || ' ' || coalesce(summary, ''), "
     "'[[:punct:]]', ' ', 'g'))", None),
    ("ix_posts_search", "posts",
     "to_tsvector('simple', regexp_replace(coalesce(text, ''), '[[:punct:]]', ' ', 'g'))", None),
    ("ix_audit_events_search", "audit_events",
     "to_tsvector('simple', regexp_replace(coalesce(comment, ''), '[[:punct:]]', ' ', 'g'))",
     "comment IS NOT NULL AND incident_id IS NOT NULL"),
)


def _sqlite_triggers(fts: str, table: str, columns: tuple[str, ...], condition: str) -> list[str]:
    cols = ", ".join(columns)
    new = ", ".join(f"new.{c}" for c in columns)
    old = ", ".join(f"old.{c}" for c in columns)
    when_new, when_old = condition.format(row="new"), condition.format(row="old")
    # All SQL here is built from the constants above, never from data.
    insert = f"INSERT INTO {fts}(rowid, {cols}) VALUES (new.id, {new});"  # noqa: S608
    delete = f"INSERT INTO {fts}({fts}, rowid, {cols}) VALUES ('delete', old.id, {old});"  # noqa: S608
    # One UPDATE trigger doing both steps in order (remove the old text, then add the new): with two
    # triggers SQLite would choose the order, and adding before removing corrupts the index.
    update = (f"INSERT INTO {fts}({fts}, rowid, {cols}) SELECT 'delete', old.id, {old} WHERE {when_old}; "  # noqa: S608
              f"INSERT INTO {fts}(rowid, {cols}) SELECT new.id, {new} WHERE {when_new};")
    return [
        f"CREATE TRIGGER {fts}_ai AFTER INSERT ON {table} WHEN {when_new} BEGIN {insert} END",
        f"CREATE TRIGGER {fts}_ad AFTER DELETE ON {table} WHEN {when_old} BEGIN {delete} END",
        # Only a change to the indexed text touches the index (a version bump or state change does not).
        f"CREATE TRIGGER {fts}_au AFTER UPDATE OF {cols} ON {table} BEGIN {update} END",
    ]


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        for fts, table, columns, condition in _SQLITE_SOURCES:
            op.execute(f"CREATE VIRTUAL TABLE {fts} USING fts5({', '.join(columns)}, content='{table}', "
                       "content_rowid='id', tokenize='unicode61 remove_diacritics 0')")
            for statement in _sqlite_triggers(fts, table, columns, condition):
                op.execute(statement)
            # Index the rows already there (only those the triggers would have indexed).
            where = condition.format(row=table)
            op.execute(f"INSERT INTO {fts}(rowid, {', '.join(columns)}) "  # noqa: S608
                       f"SELECT id, {', '.join(columns)} FROM {table} WHERE {where}")
    elif bind.dialect.name == "postgresql":
        for name, table, expression, where in _PG_INDEXES:
            op.execute(f"CREATE INDEX {name} ON {table} USING gin ({expression})"
                       + (f" WHERE {where}" if where else ""))


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        for fts, _table, _columns, _condition in _SQLITE_SOURCES:
            for suffix in ("ai", "ad", "au"):
                op.execute(f"DROP TRIGGER IF EXISTS {fts}_{suffix}")
            op.execute(f"DROP TABLE IF EXISTS {fts}")
    elif bind.dialect.name == "postgresql":
        for name, _table, _expression, _where in _PG_INDEXES:
            op.execute(f"DROP INDEX IF EXISTS {name}")
