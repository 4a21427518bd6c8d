"""Tenant installs. Every method takes ``tenant_id`` and filters by it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from extsched.domain.records import Install
from extsched.errors import AlreadyExists
from extsched.ids import new_id
from extsched.store.tables import extension_registry as reg_t
from extsched.store.tables import tenant_extension_install as inst_t
from extsched.store.unique import unique_outcomes

INSTALLED = "uq_tenant_extension_install_tenant_id_registry_id"

# The tenant's installs an extension id may name: by install id, registry id or publisher.name.
NAMED = sa.and_(
    inst_t.c.tenant_id == sa.bindparam("b_tenant"),
    sa.or_(
        inst_t.c.id == sa.bindparam("b_extension"),
        inst_t.c.registry_id == sa.bindparam("b_extension"),
        inst_t.c.registry_id.in_(
            sa.select(reg_t.c.id).where(
                sa.func.lower(reg_t.c.publisher) == sa.bindparam("b_publisher"),
                sa.func.lower(reg_t.c.name) == sa.bindparam("b_short"),
            )
        ),
    ),
)
_RESOLVE = inst_t.select().where(NAMED)


def named_params(tenant_id: str, extension_id: str) -> dict[str, Any]:
    publisher, dot, name = extension_id.partition(".")
    return {
        "b_tenant": tenant_id,
        "b_extension": extension_id,
        "b_publisher": publisher.lower() if dot else None,
        "b_short": name.lower() if dot else None,
    }


def first_named(rows: Sequence[Any], extension_id: str) -> Any:
    """Of the install rows ``NAMED`` matched, the one the id names first: by install id, then by
    registry id, then by slug; None when none matched."""
    by_id = [r for r in rows if r.id == extension_id]
    by_registry = [r for r in rows if r.registry_id == extension_id]
    ranked = by_id or by_registry or list(rows)
    return ranked[0] if ranked else None


def _already_installed() -> AlreadyExists:
    return AlreadyExists("the extension is already installed")


def to_install(row: Any) -> Install:
    return Install(
        tenant_id=row.tenant_id,
        id=row.id,
        registry_id=row.registry_id,
        version_id=row.version_id,
        enabled=row.enabled,
        config=dict(row.config),
        granted_caps=list(row.granted_caps),
        secret_envelope=row.secret_envelope,
        revision=row.revision,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


class InstallRepo:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def insert(
        self,
        tenant_id: str,
        *,
        registry_id: str,
        version_id: str,
        config: dict[str, str],
        granted_caps: list[str],
        now: datetime,
    ) -> Install:
        values: dict[str, Any] = {
            "tenant_id": tenant_id,
            "id": new_id(),
            "registry_id": registry_id,
            "version_id": version_id,
            "enabled": True,
            "config": config,
            "granted_caps": granted_caps,
            "secret_envelope": None,
            "revision": 1,
            "created_at": now,
            "updated_at": now,
        }
        with unique_outcomes(inst_t, {INSTALLED: _already_installed}):
            await self.conn.execute(inst_t.insert().values(**values))
        return Install(**values)

    async def resolve(self, tenant_id: str, extension_id: str) -> Install | None:
        """The tenant's install named by its install id, its registry id, or the extension's
        ``publisher.name`` (case-insensitive), in that order of precedence; one statement."""
        params = named_params(tenant_id, extension_id)
        rows = (await self.conn.execute(_RESOLVE, params)).all()
        row = first_named(rows, extension_id)
        return to_install(row) if row is not None else None

    async def get(self, tenant_id: str, install_id: str, *, lock: bool = False) -> Install | None:
        q = inst_t.select().where(inst_t.c.tenant_id == tenant_id, inst_t.c.id == install_id)
        if lock:
            q = q.with_for_update()
        row = (await self.conn.execute(q)).first()
        return to_install(row) if row else None

    async def find_by_registry(
        self, tenant_id: str, registry_id: str, *, lock: bool = False
    ) -> Install | None:
        q = inst_t.select().where(
            inst_t.c.tenant_id == tenant_id, inst_t.c.registry_id == registry_id
        )
        if lock:
            q = q.with_for_update()
        row = (await self.conn.execute(q)).first()
        return to_install(row) if row else None

    async def find_any_tenant(self, install_id: str) -> Install | None:
        """The install with this id, whichever tenant holds it: only for callers the platform
        trusts to name installs (the Runner's host API), which then act as that tenant."""
        row = (await self.conn.execute(inst_t.select().where(inst_t.c.id == install_id))).first()
        return to_install(row) if row else None

    async def list(self, tenant_id: str) -> list[Install]:
        q = inst_t.select().where(inst_t.c.tenant_id == tenant_id).order_by(inst_t.c.created_at)
        return [to_install(r) for r in await self.conn.execute(q)]

    async def update(
        self, tenant_id: str, install_id: str, *, now: datetime, **changes: Any
    ) -> None:
        """Apply changes and bump the revision."""
        await self.conn.execute(
            inst_t.update()
            .where(inst_t.c.tenant_id == tenant_id, inst_t.c.id == install_id)
            .values(**changes, updated_at=now, revision=inst_t.c.revision + 1)
        )

    async def delete_tenant(self, tenant_id: str) -> None:
        await self.conn.execute(inst_t.delete().where(inst_t.c.tenant_id == tenant_id))

    async def delete(self, tenant_id: str, install_id: str) -> None:
        await self.conn.execute(
            inst_t.delete().where(inst_t.c.tenant_id == tenant_id, inst_t.c.id == install_id)
        )

    async def with_secrets(self) -> Sequence[tuple[str, str]]:
        """Across tenants: (tenant, install) of every install holding secrets."""
        q = sa.select(inst_t.c.tenant_id, inst_t.c.id).where(inst_t.c.secret_envelope.is_not(None))
        return [(t, i) for t, i in await self.conn.execute(q)]

    async def keep_envelope(
        self, tenant_id: str, install_id: str, envelope: dict[str, Any]
    ) -> None:
        """Store the same secrets sealed anew; not a change of the install (revision kept)."""
        await self.conn.execute(
            inst_t.update()
            .where(inst_t.c.tenant_id == tenant_id, inst_t.c.id == install_id)
            .values(secret_envelope=envelope)
        )

    async def count_using_version(self, version_id: str) -> int:
        """Across tenants: used by the operator's version-delete guard."""
        q = sa.select(sa.func.count()).select_from(inst_t).where(inst_t.c.version_id == version_id)
        return int((await self.conn.execute(q)).scalar_one())
