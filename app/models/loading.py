"""Loading a page's one-to-many collections with statements built once.

``selectinload`` (and a lazy load) builds its statement afresh at every use, and SQLAlchemy then works out that new
statement's cache key before it can find the compiled SQL: for a page that loads several collections of one object
at every view (the incident page: posts, evidence, clauses, deadlines, shares) that was a share of the page's CPU.
A ``Collections`` builds each collection's statement once, from the relationship itself (its foreign key and its
``order_by``, so the order stays the model's), and sets what it reads on the object as loaded.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, bindparam, inspect, select
from sqlalchemy.orm import InstrumentedAttribute, Session
from sqlalchemy.orm.attributes import set_committed_value


class Collections:
    """Loads the given one-to-many relationships of one object, one prebuilt statement each."""

    def __init__(self, *relationships: InstrumentedAttribute[Any]) -> None:
        self._statements: list[tuple[str, str, Select[Any]]] = []  # (collection, owner's key attribute, statement)
        # (collection, owner's key attribute, statement for many owners giving each member with its owner's key)
        self._of_many: list[tuple[str, str, Select[Any]]] = []
        for attribute in relationships:
            prop = attribute.property
            if prop.direction.name != "ONETOMANY" or len(prop.local_remote_pairs) != 1:
                raise ValueError(f"{attribute}: only a one-to-many relationship on one column is loaded this way")
            [(local, remote)] = prop.local_remote_pairs
            statement = select(prop.mapper).where(remote == bindparam("owner_key"))
            # With the owner's key as stored: a member's own attribute may hold a change not yet written.
            of_many = select(prop.mapper, remote).where(remote.in_(bindparam("owner_keys", expanding=True)))
            if prop.order_by:
                statement = statement.order_by(*prop.order_by)
                of_many = of_many.order_by(*prop.order_by)
            owner_key = prop.parent.get_property_by_column(local).key
            self._statements.append((attribute.key, owner_key, statement))
            self._of_many.append((attribute.key, owner_key, of_many))

    def load(self, session: Session, owner: Any) -> None:
        """Read each collection of ``owner`` not yet loaded (a permission check may have read the shares) and set it as
        loaded: no further statement when it is read."""
        unloaded = inspect(owner).unloaded
        for collection, owner_key, statement in self._statements:
            if collection not in unloaded:
                continue
            rows = session.scalars(statement, {"owner_key": getattr(owner, owner_key)}).all()
            set_committed_value(owner, collection, rows)

    def load_all(self, session: Session, owners: list[Any]) -> None:
        """``load`` for many owners at once: each collection in one statement for all the owners that have it still
        to load, its members shared out among them in the relationship's order."""
        for collection, owner_key, statement in self._of_many:
            waiting = {getattr(owner, owner_key): owner for owner in owners if collection in inspect(owner).unloaded}
            if not waiting:
                continue
            members: dict[Any, list[Any]] = {key: [] for key in waiting}
            for member, key in session.execute(statement, {"owner_keys": list(waiting)}):
                members[key].append(member)
            for key, owner in waiting.items():
                set_committed_value(owner, collection, members[key])
