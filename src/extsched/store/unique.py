"""Unique violations as domain outcomes, recognised by the constraint's name.

PostgreSQL names the violated constraint; SQLite names its columns, which identify it here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

_SQLITE_UNIQUE = "UNIQUE constraint failed: "


def violated_constraint(exc: IntegrityError, table: sa.Table) -> str | None:
    diag = getattr(exc.orig, "diag", None)
    name = getattr(diag, "constraint_name", None)
    if isinstance(name, str):
        return name
    message = str(exc.orig)
    if not message.startswith(_SQLITE_UNIQUE):
        return None
    columns = tuple(c.strip().rsplit(".", 1)[-1] for c in message[len(_SQLITE_UNIQUE) :].split(","))
    for constraint_name, constraint_columns in _unique_keys(table):
        if constraint_columns == columns:
            return constraint_name
    return None


def _unique_keys(table: sa.Table) -> Iterator[tuple[str, tuple[str, ...]]]:
    for constraint in table.constraints:
        if isinstance(constraint, sa.UniqueConstraint | sa.PrimaryKeyConstraint):
            yield str(constraint.name), tuple(c.name for c in constraint.columns)
    for index in table.indexes:
        if index.unique:
            yield str(index.name), tuple(c.name for c in index.columns)


@contextmanager
def unique_outcomes(
    table: sa.Table, outcomes: Mapping[str, Callable[[], Exception]]
) -> Iterator[None]:
    """Within the block, a violation of one of ``outcomes``' constraints raises what its factory
    makes; any other integrity error goes on as it is."""
    try:
        yield
    except IntegrityError as exc:
        make = outcomes.get(violated_constraint(exc, table) or "")
        if make is None:
            raise
        raise make() from exc
