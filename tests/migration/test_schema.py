from __future__ import annotations

import psycopg
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Connection

from extsched.store.citus import distribute
from extsched.store.db import Database
from extsched.store.migrate import downgrade, upgrade
from extsched.store.tables import GLOBAL_TABLES, TENANT_TABLES, metadata
from tests.support.postgres import PostgresServer


def _diff(sync_conn: Connection) -> list[object]:
    ctx = MigrationContext.configure(sync_conn, opts={"compare_type": True})
    return list(compare_metadata(ctx, metadata))


async def test_migrations_match_the_tables_exactly(db: Database) -> None:
    async with db.connect() as conn:
        assert await conn.run_sync(_diff) == []


async def test_migrations_go_down_and_up_again(db: Database) -> None:
    await downgrade(db, "base")
    async with db.connect() as conn:
        names = await conn.run_sync(lambda c: sa.inspect(c).get_table_names())
    assert set(names) <= {"alembic_version"}
    await upgrade(db)
    async with db.connect() as conn:
        assert await conn.run_sync(_diff) == []


def test_every_table_is_either_global_or_tenant() -> None:
    assert {t.name for t in GLOBAL_TABLES} | {t.name for t in TENANT_TABLES} == set(metadata.tables)


@pytest.mark.postgres
def test_tenant_keys_include_tenant_id_and_no_foreign_key_exists(
    pg_server: PostgresServer, pg_url: str
) -> None:
    """What Citus needs to distribute by tenant_id, checked on the real catalog."""
    dbname = pg_url.rsplit("/", 1)[1]
    with psycopg.connect(pg_server.dsn(dbname)) as conn:
        rows = conn.execute(
            """
            SELECT c.relname, i.indexrelid::regclass::text, i.indisprimary,
                   array_agg(a.attname ORDER BY a.attnum)
            FROM pg_index i
            JOIN pg_class c ON c.oid = i.indrelid
            JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'
            JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = ANY(i.indkey)
            WHERE i.indisunique
            GROUP BY c.relname, i.indexrelid, i.indisprimary
            """
        ).fetchall()
        tenant_tables = {t.name for t in TENANT_TABLES}
        checked = set()
        for table, index, _primary, columns in rows:
            if table in tenant_tables:
                assert "tenant_id" in columns, f"{index} on {table} lacks tenant_id"
                checked.add(table)
        assert checked == tenant_tables
        fks = conn.execute(
            "SELECT conname FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace "
            "WHERE n.nspname = 'public' AND c.contype = 'f'"
        ).fetchall()
        assert fks == []


@pytest.mark.postgres
async def test_the_citus_step_does_nothing_without_the_extension(pg_url: str) -> None:
    db = Database(pg_url)
    try:
        async with db.transaction() as conn:
            done = await conn.run_sync(
                lambda c: distribute(c, reference=["extension_registry"], distributed=[])
            )
        assert done is False
    finally:
        await db.dispose()


def test_no_table_declares_a_foreign_key() -> None:
    assert [fk for t in metadata.tables.values() for fk in t.foreign_keys] == []
