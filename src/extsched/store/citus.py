"""Citus distribution, applied by migrations only where the ``citus`` extension is installed.

Global tables become reference tables; tenant tables are distributed by ``tenant_id`` and
co-located. A refusal by Citus is an error that stops the migration: a half-distributed schema
would make cross-tenant joins fail later, at run time, far from the cause.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

COLOCATION_ANCHOR = "tenant_extension_install"


def citus_installed(conn: Connection) -> bool:
    if conn.dialect.name != "postgresql":
        return False
    found = conn.execute(sa.text("SELECT 1 FROM pg_extension WHERE extname = 'citus'")).first()
    return found is not None


def distribute(conn: Connection, *, reference: Sequence[str], distributed: Sequence[str]) -> bool:
    """Distribute the named tables; returns False (and does nothing) without Citus."""
    if not citus_installed(conn):
        return False
    for table in reference:
        conn.execute(sa.text("SELECT create_reference_table(:t)"), {"t": table})
    for table in distributed:
        colocate = "none" if table == COLOCATION_ANCHOR else COLOCATION_ANCHOR
        conn.execute(
            sa.text("SELECT create_distributed_table(:t, 'tenant_id', colocate_with => :c)"),
            {"t": table, "c": colocate},
        )
    return True
