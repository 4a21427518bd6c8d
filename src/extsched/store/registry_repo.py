"""Registry tables (global): extensions, versions and their materialized endpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from extsched.domain.endpoints import EndpointSpec
from extsched.domain.records import Endpoint, Extension, Version
from extsched.errors import AlreadyExists
from extsched.ids import new_id
from extsched.store.tables import extension_api_endpoint as ep_t
from extsched.store.tables import extension_registry as reg_t
from extsched.store.tables import extension_version as ver_t
from extsched.store.unique import unique_outcomes


def _exists(kind: str, name: str) -> AlreadyExists:
    suffix = "; versions are immutable" if kind == "version" else ""
    return AlreadyExists(f"{kind} {name} already exists{suffix}")


def to_extension(row: Any) -> Extension:
    return Extension(
        id=row.id,
        publisher=row.publisher,
        name=row.name,
        display_name=row.display_name,
        description=row.description,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def to_version(row: Any) -> Version:
    return Version(
        id=row.id,
        registry_id=row.registry_id,
        version=row.version,
        runtime=row.runtime,
        content_hash=row.content_hash,
        manifest=row.manifest,
        capabilities=list(row.capabilities),
        api_endpoints=list(row.api_endpoints),
        created_at=row.created_at,
    )


def to_endpoint(row: Any) -> Endpoint:
    return Endpoint(
        id=row.id, version_id=row.version_id, method=row.method, path=row.path, handler=row.handler
    )


# Built once: a statement made per call costs more to build than to run on the hot paths.
_ENDPOINT_BY_ID = ep_t.select().where(ep_t.c.id == sa.bindparam("b_id"))


class RegistryRepo:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def insert_extension(
        self,
        *,
        publisher: str,
        name: str,
        display_name: str | None,
        description: str | None,
        now: datetime,
    ) -> Extension:
        values: dict[str, Any] = {
            "id": new_id(),
            "publisher": publisher,
            "name": name,
            "display_name": display_name,
            "description": description,
            "created_at": now,
            "updated_at": now,
        }
        slug = f"{publisher}.{name}"
        exists = {"uq_extension_registry_publisher_name": lambda: _exists("extension", slug)}
        with unique_outcomes(reg_t, exists):
            await self.conn.execute(reg_t.insert().values(**values))
        return Extension(**values)

    async def get_extension(self, registry_id: str) -> Extension | None:
        row = (await self.conn.execute(reg_t.select().where(reg_t.c.id == registry_id))).first()
        return to_extension(row) if row else None

    async def find_extension_by_slug(self, publisher: str, name: str) -> Extension | None:
        q = reg_t.select().where(
            sa.func.lower(reg_t.c.publisher) == publisher.lower(),
            sa.func.lower(reg_t.c.name) == name.lower(),
        )
        row = (await self.conn.execute(q)).first()
        return to_extension(row) if row else None

    async def list_extensions(self) -> list[Extension]:
        rows = await self.conn.execute(reg_t.select().order_by(reg_t.c.publisher, reg_t.c.name))
        return [to_extension(r) for r in rows]

    async def insert_version(
        self,
        *,
        registry_id: str,
        version: str,
        runtime: str | None,
        content_hash: str,
        manifest: dict[str, Any],
        capabilities: list[str],
        endpoints: list[EndpointSpec],
        now: datetime,
    ) -> Version:
        values: dict[str, Any] = {
            "id": new_id(),
            "registry_id": registry_id,
            "version": version,
            "runtime": runtime,
            "content_hash": content_hash,
            "manifest": manifest,
            "capabilities": capabilities,
            "api_endpoints": [e.as_dict() for e in endpoints],
            "created_at": now,
        }
        exists = {"uq_extension_version_registry_id_version": lambda: _exists("version", version)}
        with unique_outcomes(ver_t, exists):
            await self.conn.execute(ver_t.insert().values(**values))
        return Version(**values)

    async def get_version(self, version_id: str) -> Version | None:
        row = (await self.conn.execute(ver_t.select().where(ver_t.c.id == version_id))).first()
        return to_version(row) if row else None

    async def find_version(self, registry_id: str, version: str) -> Version | None:
        q = ver_t.select().where(ver_t.c.registry_id == registry_id, ver_t.c.version == version)
        row = (await self.conn.execute(q)).first()
        return to_version(row) if row else None

    async def list_versions(self, registry_id: str) -> list[Version]:
        q = (
            ver_t.select()
            .where(ver_t.c.registry_id == registry_id)
            .order_by(ver_t.c.created_at, ver_t.c.id)
        )
        return [to_version(r) for r in await self.conn.execute(q)]

    async def list_version_ids(self) -> list[str]:
        return list((await self.conn.execute(sa.select(ver_t.c.id).order_by(ver_t.c.id))).scalars())

    async def delete_version(self, version_id: str) -> None:
        await self.conn.execute(ep_t.delete().where(ep_t.c.version_id == version_id))
        await self.conn.execute(ver_t.delete().where(ver_t.c.id == version_id))

    async def materialize_endpoints(self, version: Version, now: datetime) -> list[Endpoint]:
        """One row per endpoint of the version's ``api_endpoints``; existing rows keep their ids."""
        existing = {(e.method, e.path): e for e in await self.list_endpoints(version.id)}
        result: list[Endpoint] = []
        for spec in version.api_endpoints:
            key = (spec["method"], spec["path"])
            found = existing.get(key)
            if found is None:
                found = Endpoint(
                    id=new_id(),
                    version_id=version.id,
                    method=spec["method"],
                    path=spec["path"],
                    handler=spec["handler"],
                )
                await self.conn.execute(
                    ep_t.insert().values(
                        id=found.id,
                        version_id=found.version_id,
                        method=found.method,
                        path=found.path,
                        handler=found.handler,
                        created_at=now,
                        updated_at=now,
                    )
                )
            result.append(found)
        return result

    async def list_endpoints(self, version_id: str) -> list[Endpoint]:
        q = (
            ep_t.select()
            .where(ep_t.c.version_id == version_id)
            .order_by(ep_t.c.path, ep_t.c.method)
        )
        return [to_endpoint(r) for r in await self.conn.execute(q)]

    async def get_endpoint(self, endpoint_id: str) -> Endpoint | None:
        row = (await self.conn.execute(_ENDPOINT_BY_ID, {"b_id": endpoint_id})).first()
        return to_endpoint(row) if row else None

    async def get_endpoints(self, endpoint_ids: list[str]) -> dict[str, Endpoint]:
        if not endpoint_ids:
            return {}
        q = ep_t.select().where(ep_t.c.id.in_(set(endpoint_ids)))
        return {r.id: to_endpoint(r) for r in await self.conn.execute(q)}
