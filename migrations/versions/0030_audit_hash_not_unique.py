"""audit_events: the hash is no longer a unique key

``uq_audit_events_hash`` made every audited change also insert its SHA-256 into a unique index: a random key, so at a
million incidents (3.5 million audit rows) each new row touched a leaf page nobody had read lately. It was half the
cost of writing audit rows (the deadline sweep's 11,000: 0.58-0.64 -> 0.26-0.32 s on SQLite, bench/RESULTS.md run
24) and guarded nothing: no query looks a row up by its hash, and two rows can share a hash only if they are the same
row extending the same link, which the chain head's lock already prevents and ``verify_chain`` would find.

SQLite cannot drop a table's constraint, so there the table is rebuilt (copied into a table without it, which takes
the old one's name) and its indexes and triggers are made again as they were: 47 s at 3.5 million rows (a
million incidents), while other work ran on the machine.

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-06 22:30:00
"""
import re
from collections.abc import Callable, Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0030'
down_revision: str | None = '0029'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CONSTRAINT = 'uq_audit_events_hash'
_CONSTRAINT_SQL = re.compile(r',\s*CONSTRAINT uq_audit_events_hash UNIQUE \(hash\)')


def upgrade() -> None:
    if op.get_bind().dialect.name != 'sqlite':
        op.drop_constraint(CONSTRAINT, 'audit_events', type_='unique')
        return

    def without(table_sql: str) -> str:
        rebuilt, found = _CONSTRAINT_SQL.subn('', table_sql)
        if found != 1:
            raise RuntimeError(f"audit_events: expected one {CONSTRAINT} in its definition, found {found}")
        return rebuilt

    _rebuild_sqlite_audit_events(without)


def downgrade() -> None:
    if op.get_bind().dialect.name != 'sqlite':
        op.create_unique_constraint(CONSTRAINT, 'audit_events', ['hash'])
        return

    def with_it(table_sql: str) -> str:
        end = table_sql.rstrip().rindex(')')
        return f"{table_sql[:end].rstrip()}, \n\tCONSTRAINT {CONSTRAINT} UNIQUE (hash)\n)"

    _rebuild_sqlite_audit_events(with_it)


def _rebuild_sqlite_audit_events(change: Callable[[str], str]) -> None:
    """SQLite's way to change a table's constraints: a new table from the changed definition, the rows copied, the old
    table dropped and the new one renamed, then the old one's indexes and triggers made again from their own SQL."""
    bind = op.get_bind()
    table_sql = bind.scalar(sa.text("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'audit_events'"))
    kept = bind.execute(sa.text(
        "SELECT sql FROM sqlite_master WHERE tbl_name = 'audit_events' AND type IN ('index', 'trigger') "
        "AND sql IS NOT NULL ORDER BY type, name")).scalars().all()
    # Once renamed, SQLite keeps the table's name quoted in its definition.
    rebuilt, named = re.subn(r'^CREATE TABLE "?audit_events"?', 'CREATE TABLE audit_events_rebuilt', change(table_sql))
    if named != 1:
        raise RuntimeError(f"audit_events: unexpected definition {table_sql[:40]!r}")
    op.execute(rebuilt)
    op.execute('INSERT INTO audit_events_rebuilt SELECT * FROM audit_events')
    op.execute('DROP TABLE audit_events')
    # Triggers on other tables name audit_events in their bodies (the removal counts): with the legacy rename SQLite
    # renames the table without checking them, and by the end the name they use is the table's again.
    op.execute('PRAGMA legacy_alter_table = ON')
    op.execute('ALTER TABLE audit_events_rebuilt RENAME TO audit_events')
    op.execute('PRAGMA legacy_alter_table = OFF')
    for sql in kept:
        op.execute(sql)
