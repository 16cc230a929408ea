"""contributor role: users.role may be 'contributor' (escalates tags and press approaches, nothing else)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05 23:20:00

On SQLite the table is not rebuilt (dropping ``users`` would trip the foreign keys of every row pointing at it,
and the pragma that turns them off does nothing inside the migration's transaction): the constraint's text is
rewritten in the schema, as SQLite documents for loosening a CHECK constraint (every row already satisfies both).
"""
from collections.abc import Sequence

from alembic import op

revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BEFORE = ('admin', 'comms', 'director_of_comms', 'press_office', 'officer', 'rep', 'regional_officer', 'auditor')
AFTER = (*BEFORE, 'contributor')


def _roles(roles: tuple[str, ...]) -> str:
    return "role IN (" + ", ".join(f"'{r}'" for r in roles) + ")"


def _replace(old: tuple[str, ...], new: tuple[str, ...]) -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        op.drop_constraint(op.f('ck_users_known_role'), 'users', type_='check')
        op.create_check_constraint(op.f('ck_users_known_role'), 'users', _roles(new))
        return
    sql = bind.exec_driver_sql("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'users'").scalar()
    if _roles(old) not in sql:
        raise RuntimeError("users.role's CHECK constraint is not the one this migration expects; not changed.")
    version = bind.exec_driver_sql("PRAGMA schema_version").scalar()
    bind.exec_driver_sql("PRAGMA writable_schema = ON")
    bind.exec_driver_sql("UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = 'users'",
                         (sql.replace(_roles(old), _roles(new)),))
    bind.exec_driver_sql(f"PRAGMA schema_version = {int(version) + 1}")
    bind.exec_driver_sql("PRAGMA writable_schema = OFF")


def upgrade() -> None:
    _replace(BEFORE, AFTER)


def downgrade() -> None:
    left = op.get_bind().exec_driver_sql("SELECT count(*) FROM users WHERE role = 'contributor'").scalar()
    if left:
        raise RuntimeError(f"{left} contributor account(s) exist; change their role before downgrading.")
    _replace(AFTER, BEFORE)
