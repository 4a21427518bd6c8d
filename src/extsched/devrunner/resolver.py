"""Registry id to ``publisher.name``, read from extsched's database, for ``--upstream`` routing."""

from __future__ import annotations

from extsched.devrunner.app import SlugResolver
from extsched.store.db import Database
from extsched.store.registry_repo import RegistryRepo


def database_resolver(db: Database) -> SlugResolver:
    cache: dict[str, str | None] = {}

    async def resolve(registry_id: str) -> str | None:
        if registry_id not in cache:
            async with db.connect() as conn:
                ext = await RegistryRepo(conn).get_extension(registry_id)
            cache[registry_id] = ext.slug if ext else None
        return cache[registry_id]

    return resolve
