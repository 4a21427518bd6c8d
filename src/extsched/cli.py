"""The ``extsched`` command."""

from __future__ import annotations

import asyncio
import json
import os
from typing import Annotated

import typer

from extsched.auth import EXTENSION_READ, EXTENSION_WRITE, mint_token
from extsched.clock import SystemClock
from extsched.config import Settings
from extsched.errors import ConfigError, ExtschedError
from extsched.services.demo import DEMO_ACTOR, DEMO_NAME, DEMO_PUBLISHER, DEMO_TENANT
from extsched.services.registry import RegistryService
from extsched.store.db import Database
from extsched.store.migrate import upgrade

app = typer.Typer(
    no_args_is_help=True, add_completion=False, help="Scheduled tasks for extensions."
)


def _settings() -> Settings:
    try:
        return Settings.from_env(os.environ)
    except ConfigError as exc:
        typer.echo(f"configuration error: {exc}", err=True)
        raise typer.Exit(2) from exc


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    demo: Annotated[bool, typer.Option(help="Seed demo data and print a login token.")] = False,
) -> None:
    """Serve the API (and, later, the UI, dispatcher and workers) in one process."""
    import uvicorn

    from extsched.api.app import create_app

    settings = _settings()
    if demo:
        token = mint_token(
            settings.effective_jwt_secret or "",
            sub=DEMO_ACTOR,
            tenant=DEMO_TENANT,
            permissions=[EXTENSION_READ, EXTENSION_WRITE],
        )
        base = f"http://{host}:{port}"
        typer.echo(f"Demo tenant '{DEMO_TENANT}' token (read+write):\n  {token}")
        typer.echo(
            f"Try: curl -H 'Authorization: Bearer {token[:12]}…' "
            f"{base}/api/extensions/{DEMO_PUBLISHER}.{DEMO_NAME}/endpoints"
        )
    typer.echo(f"extsched serving on http://{host}:{port}  (OpenAPI: /openapi.json)")
    uvicorn.run(create_app(settings, demo=demo), host=host, port=port, log_level="info")


@app.command()
def migrate() -> None:
    """Apply the database migrations."""
    settings = _settings()

    async def run() -> None:
        db = Database(settings.database_url)
        try:
            await upgrade(db)
        finally:
            await db.dispose()

    asyncio.run(run())
    typer.echo("database is up to date")


@app.command()
def token(
    tenant: Annotated[str | None, typer.Option(help="Tenant the token is for.")] = None,
    perm: Annotated[list[str] | None, typer.Option(help="Permission; repeat for several.")] = None,
    sub: Annotated[str, typer.Option(help="Subject (user id).")] = "dev-user",
    user_type: Annotated[str, typer.Option(help="msp or client.")] = "msp",
    ttl: Annotated[int, typer.Option(help="Lifetime in seconds.")] = 24 * 3600,
) -> None:
    """Mint an HS256 development token."""
    settings = _settings()
    secret = settings.effective_jwt_secret
    if not secret:
        typer.echo("EXTSCHED_JWT_SECRET is not set", err=True)
        raise typer.Exit(2)
    perms = perm if perm else [EXTENSION_READ, EXTENSION_WRITE]
    typer.echo(
        mint_token(
            secret, sub=sub, tenant=tenant, permissions=perms, user_type=user_type, ttl_seconds=ttl
        )
    )


@app.command("backfill-endpoints")
def backfill_endpoints(
    version_id: Annotated[str | None, typer.Option(help="Only this version.")] = None,
) -> None:
    """Materialize endpoint rows for versions created before the table existed (idempotent)."""
    settings = _settings()

    async def run() -> dict[str, list[str]]:
        db = Database(settings.database_url)
        try:
            await upgrade(db)
            return await RegistryService(db, SystemClock()).backfill_endpoints(version_id)
        finally:
            await db.dispose()

    try:
        result = asyncio.run(run())
    except ExtschedError as exc:
        typer.echo(f"error: {exc.detail}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(json.dumps({"versions": result}, indent=2))


def main() -> None:
    app()
