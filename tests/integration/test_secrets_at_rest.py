"""Install secrets are sealed in the database, opened only for the Runner, and re-sealed by a
key rotation without the tenant noticing."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet
from fastapi import FastAPI

from extsched.clock import ManualClock
from extsched.config import Settings
from extsched.secret_box import SecretsUnreadable
from extsched.services.container import Services
from extsched.store.db import Database
from extsched.store.tables import tenant_extension_install as inst_t
from tests.conftest import Personas
from tests.support.seed import install, publish
from tests.support.served import Served

KEY_A = Fernet.generate_key().decode()
KEY_B = Fernet.generate_key().decode()


@pytest.fixture
def settings(db_url: str) -> Settings:
    from tests.conftest import JWT_SECRET

    return Settings(database_url=db_url, jwt_secret=JWT_SECRET, secrets_keys=KEY_A)


async def stored_envelope(db: Database) -> Any:
    async with db.connect() as conn:
        return (await conn.execute(sa.select(inst_t.c.secret_envelope))).scalar_one()


def services(settings: Settings, db: Database, clock: ManualClock, keys: str) -> Services:
    return Services.build(settings.model_copy(update={"secrets_keys": keys}), db, clock)


async def test_secrets_are_sealed_at_rest_and_opened_only_for_the_runner(
    served: Served, personas: Personas
) -> None:
    client, app = served.client, served.app
    published = await publish(client, personas.operator)
    inst = await install(client, personas.admin_a, published["registryId"])
    r = await client.put(
        f"/api/v1/extensions/{inst['id']}/secrets",
        json={"secrets": {"TOKEN": "t0k-very-secret"}},
        headers=personas.admin_a.headers,
    )
    assert r.status_code == 204
    svc = app.state.services
    envelope = await stored_envelope(svc.db)
    assert envelope["format"] == "extsched.secrets.v2"
    assert "t0k-very-secret" not in json.dumps(envelope)
    assert Fernet(KEY_A).decrypt(envelope["ciphertext"].encode()) == b'{"TOKEN":"t0k-very-secret"}'
    r = await client.get(f"/api/v1/extensions/{inst['id']}", headers=personas.admin_a.headers)
    assert r.json()["hasSecrets"] is True
    assert "t0k" not in r.text
    cfg = await svc.installs.install_config("tenant-a", inst["id"])
    assert cfg.secret_envelope == {
        "format": "extsched.secrets.v1",
        "values": {"TOKEN": "t0k-very-secret"},
    }


async def test_a_rotation_reseals_with_the_new_key_so_the_old_one_can_go(
    client: httpx.AsyncClient, personas: Personas, app: FastAPI, settings: Settings
) -> None:
    published = await publish(client, personas.operator)
    inst = await install(client, personas.admin_a, published["registryId"])
    await client.put(
        f"/api/v1/extensions/{inst['id']}/secrets",
        json={"secrets": {"K": "v"}},
        headers=personas.admin_a.headers,
    )
    db, clock = app.state.services.db, app.state.services.clock
    before = await stored_envelope(db)
    url = f"/api/v1/extensions/{inst['id']}"
    revision = (await client.get(url, headers=personas.admin_a.headers)).json()["revision"]
    # Step 1: the new key first, the old one after it; rotate.
    both = services(settings, db, clock, f"{KEY_B},{KEY_A}")
    assert await both.installs.reseal_secrets() == 1
    after = await stored_envelope(db)
    assert after != before
    # Step 2: the old key dropped; the secrets still open.
    only_new = services(settings, db, clock, KEY_B)
    cfg = await only_new.installs.install_config("tenant-a", inst["id"])
    assert cfg.secret_envelope == {"format": "extsched.secrets.v1", "values": {"K": "v"}}
    # And a process that only knows the old key can no longer read them.
    only_old = services(settings, db, clock, KEY_A)
    with pytest.raises(SecretsUnreadable):
        await only_old.installs.install_config("tenant-a", inst["id"])
    r = await client.get(url, headers=personas.admin_a.headers)
    assert r.json()["revision"] == revision  # not a change the tenant made


async def test_secrets_stored_in_plain_before_sealing_are_read_and_sealed_by_rotation(
    client: httpx.AsyncClient, personas: Personas, app: FastAPI
) -> None:
    published = await publish(client, personas.operator)
    inst = await install(client, personas.admin_a, published["registryId"])
    svc = app.state.services
    plain = {"format": "extsched.secrets.v1", "values": {"OLD": "plain"}}
    async with svc.db.transaction() as conn:
        await conn.execute(inst_t.update().values(secret_envelope=plain))
    assert (await svc.installs.install_config("tenant-a", inst["id"])).secret_envelope == plain
    assert await svc.installs.reseal_secrets() == 1
    sealed = await stored_envelope(svc.db)
    assert sealed["format"] == "extsched.secrets.v2" and "plain" not in json.dumps(sealed)
    assert (await svc.installs.install_config("tenant-a", inst["id"])).secret_envelope == plain
