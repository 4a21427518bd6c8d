"""Rows that one use case inserts together, sent in as few statements as the database allows.

On PostgreSQL every insert but the last becomes a data-modifying ``WITH`` clause of the last, so
a create's schedule row, backend entry and audit entry cost one round trip; SQLite has no such
clause and gets one statement per row (its statements do not leave the process). The statement
for a given shape (tables and columns, in order) is built once.

A unique violation anywhere in the statement becomes the outcome its row registered, matched by
the constraint's name, as ``unique.unique_outcomes`` does for a single insert.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from extsched.store.unique import violated_constraint

Shape = tuple[tuple[str, tuple[str, ...]], ...]


@dataclass(frozen=True)
class NewRow:
    table: sa.Table
    values: Mapping[str, Any]
    # Unique constraint name -> the domain error its violation means.
    outcomes: Mapping[str, Callable[[], Exception]] = field(default_factory=dict)


_statements: dict[tuple[str, Shape, sa.Select[Any] | None], sa.Executable] = {}


def _bound(row: NewRow, prefix: str) -> sa.Insert:
    table = row.table
    return table.insert().values(
        {name: sa.bindparam(f"{prefix}{name}", type_=table.c[name].type) for name in row.values}
    )


def _statement(
    dialect: str, rows: Sequence[NewRow], reading: sa.Select[Any] | None
) -> sa.Executable:
    shape: Shape = tuple((r.table.name, tuple(r.values)) for r in rows)
    found = _statements.get((dialect, shape, reading))
    if found is None:
        inserts = [_bound(r, f"r{i}_") for i, r in enumerate(rows)]
        ctes = [ins.cte(f"w{i}") for i, ins in enumerate(inserts)]
        found = reading.add_cte(*ctes) if reading is not None else inserts[-1].add_cte(*ctes[:-1])
        _statements[(dialect, shape, reading)] = found
    return found


async def insert_rows(
    conn: AsyncConnection,
    rows: Sequence[NewRow],
    reading: sa.Select[Any] | None = None,
    params: Mapping[str, Any] | None = None,
) -> Sequence[Any]:
    """Insert ``rows`` (any tables, none depending on another's defaults); with ``reading`` (and
    its ``params``), return its rows as they were before the inserts: on PostgreSQL from the same
    statement (its data-modifying clauses are invisible to the rest of it), elsewhere read first."""
    dialect = conn.dialect.name
    found: Sequence[Any] = []
    if dialect == "postgresql":
        batches, last = [rows], reading
    else:
        if reading is not None:
            found = (await conn.execute(reading, params)).all()
        batches, last = [[row] for row in rows], None
    for batch in batches:
        values = {f"r{i}_{k}": v for i, r in enumerate(batch) for k, v in r.values.items()}
        if last is not None:
            values.update(params or {})
        try:
            result = await conn.execute(_statement(dialect, batch, last), values)
        except IntegrityError as exc:
            for row in batch:
                make = row.outcomes.get(violated_constraint(exc, row.table) or "")
                if make is not None:
                    raise make() from exc
            raise
        if last is not None:
            found = result.all()
    return found
