"""PostgreSQL full-text search reads stored tsvector columns instead of parsing text on the fly

0008 indexed expressions (``to_tsvector('simple', regexp_replace(…))``). The GIN index finds matching rows
without parsing, but everything else had to parse each row's text again: ranking the matches, and walking a
table newest first for a word in many rows (about 45 µs a row, bench/RESULTS.md run 16). Each searched table
now stores its vector in ``search_vector`` (a generated column, so every write keeps it right, erasure included)
with the GIN index on that column. The column is PostgreSQL's alone: the models do not declare it
(``app.services.search.include_object`` leaves it out of autogenerate) and SQLite keeps its FTS5 tables.

Adding a stored generated column rewrites the table under an exclusive lock: minutes at a million incidents.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06 05:00:00
"""
from collections.abc import Sequence

from alembic import op

revision: str = '0019'
down_revision: str | None = '0018'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (table, the text 0008 indexed, the rows searched, 0008's index, this revision's index). Frozen copies: a
# migration must not follow later code.
_TABLES = (
    ("incidents", "coalesce(title, '') || ' ' || coalesce(summary, '')", None,
     "ix_incidents_search", "ix_incidents_search_vector"),
    ("posts", "coalesce(text, '')", None, "ix_posts_search", "ix_posts_search_vector"),
    ("audit_events", "coalesce(comment, '')", "comment IS NOT NULL AND incident_id IS NOT NULL",
     "ix_audit_events_search", "ix_audit_events_search_vector"),
)


def _vector(text: str) -> str:
    return f"to_tsvector('simple', regexp_replace({text}, '[[:punct:]]', ' ', 'g'))"


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, text, where, old_index, new_index in _TABLES:
        # Rows that are never searched (audit rows without a note) store NULL, not an empty vector.
        vector = f"CASE WHEN {where} THEN {_vector(text)} END" if where else _vector(text)
        op.execute(f"ALTER TABLE {table} ADD COLUMN search_vector tsvector GENERATED ALWAYS AS ({vector}) STORED")
        op.execute(f"DROP INDEX IF EXISTS {old_index}")
        op.execute(f"CREATE INDEX {new_index} ON {table} USING gin (search_vector)"
                   + (f" WHERE {where}" if where else ""))
        op.execute(f"ANALYZE {table}")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, text, where, old_index, new_index in _TABLES:
        op.execute(f"DROP INDEX IF EXISTS {new_index}")
        op.execute(f"ALTER TABLE {table} DROP COLUMN search_vector")
        op.execute(f"CREATE INDEX {old_index} ON {table} USING gin ({_vector(text)})"
                   + (f" WHERE {where}" if where else ""))
