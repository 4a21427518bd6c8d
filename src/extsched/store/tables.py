"""The schema (SPEC §3.1). Table and column names are part of the contract.

Rules kept here: no foreign keys and no cascades (cleanup is business logic, and Citus can
distribute these tables); every tenant table's primary key and unique constraints start with
``tenant_id``; timestamps are UTC and set by the services, never by the database.
"""

from __future__ import annotations

import sqlalchemy as sa

from extsched.store.types import UtcDateTime, json_type

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)

ID = sa.String(64)


def _timestamps() -> list[sa.Column[object]]:
    return [
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
    ]


# Global (Citus reference) tables --------------------------------------------------------------

extension_registry = sa.Table(
    "extension_registry",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("publisher", sa.String(128), nullable=False),
    sa.Column("name", sa.String(128), nullable=False),
    sa.Column("display_name", sa.String(256), nullable=True),
    sa.Column("description", sa.Text(), nullable=True),
    *_timestamps(),
    sa.UniqueConstraint("publisher", "name"),
)

extension_version = sa.Table(
    "extension_version",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("registry_id", ID, nullable=False),
    sa.Column("version", sa.String(64), nullable=False),
    sa.Column("runtime", sa.String(64), nullable=True),
    sa.Column("content_hash", sa.String(128), nullable=False),
    sa.Column("manifest", json_type(), nullable=False),
    sa.Column("capabilities", json_type(), nullable=False),
    sa.Column("api_endpoints", json_type(), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.UniqueConstraint("registry_id", "version"),
)

extension_api_endpoint = sa.Table(
    "extension_api_endpoint",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("version_id", ID, nullable=False),
    sa.Column("method", sa.String(16), nullable=False),
    sa.Column("path", sa.String(1024), nullable=False),
    sa.Column("handler", sa.String(1024), nullable=False),
    *_timestamps(),
    sa.UniqueConstraint("version_id", "method", "path"),
    sa.Index(None, "version_id"),
)

GLOBAL_TABLES = (extension_registry, extension_version, extension_api_endpoint)

# Tenant (Citus distributed by tenant_id) tables ---------------------------------------------

tenant_extension_install = sa.Table(
    "tenant_extension_install",
    metadata,
    sa.Column("tenant_id", ID, primary_key=True),
    sa.Column("id", ID, primary_key=True),
    sa.Column("registry_id", ID, nullable=False),
    sa.Column("version_id", ID, nullable=False),
    sa.Column("enabled", sa.Boolean(), nullable=False),
    sa.Column("config", json_type(), nullable=False),
    sa.Column("granted_caps", json_type(), nullable=False),
    sa.Column("secret_envelope", json_type(), nullable=True),
    sa.Column("revision", sa.Integer(), nullable=False),
    *_timestamps(),
    sa.UniqueConstraint("tenant_id", "registry_id"),
    # The Runner's host API names an install by its id alone (SPEC §10).
    sa.Index(None, "id"),
)

tenant_extension_schedule = sa.Table(
    "tenant_extension_schedule",
    metadata,
    sa.Column("tenant_id", ID, primary_key=True),
    sa.Column("id", ID, primary_key=True),
    sa.Column("install_id", ID, nullable=False),
    sa.Column("endpoint_id", ID, nullable=False),
    sa.Column("name", sa.String(128), nullable=True),
    sa.Column("cron", sa.String(128), nullable=False),
    sa.Column("timezone", sa.String(64), nullable=False, server_default="UTC"),
    sa.Column("enabled", sa.Boolean(), nullable=False),
    sa.Column("payload_json", json_type(), nullable=True),
    sa.Column("max_attempts", sa.Integer(), nullable=False),
    sa.Column("jitter_seconds", sa.Integer(), nullable=False),
    sa.Column("runner_schedule_id", sa.String(256), nullable=True),
    sa.Column("disabled_reason", sa.String(64), nullable=True),
    sa.Column("last_run_at", UtcDateTime(), nullable=True),
    sa.Column("last_run_status", sa.String(16), nullable=True),
    sa.Column("last_error", sa.String(4000), nullable=True),
    sa.Column("last_success_at", UtcDateTime(), nullable=True),
    sa.Column("consecutive_failures", sa.Integer(), nullable=False),
    sa.Column("revision", sa.Integer(), nullable=False),
    *_timestamps(),
    sa.Index(
        "uq_tenant_extension_schedule_tenant_id_install_id_name",
        "tenant_id",
        "install_id",
        "name",
        unique=True,
        sqlite_where=sa.text("name IS NOT NULL"),
        postgresql_where=sa.text("name IS NOT NULL"),
    ),
    sa.Index(None, "tenant_id", "install_id"),
    sa.Index(None, "tenant_id", "endpoint_id"),
)

tenant_extension_schedule_run = sa.Table(
    "tenant_extension_schedule_run",
    metadata,
    sa.Column("tenant_id", ID, primary_key=True),
    sa.Column("id", ID, primary_key=True),
    sa.Column("schedule_id", ID, nullable=False),
    sa.Column("install_id", ID, nullable=False),
    sa.Column("trigger", sa.String(16), nullable=False),
    sa.Column("scheduled_for", UtcDateTime(), nullable=False),
    sa.Column("idempotency_key", sa.String(256), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("skip_reason", sa.String(64), nullable=True),
    sa.Column("attempt", sa.Integer(), nullable=False),
    sa.Column("max_attempts", sa.Integer(), nullable=False),
    sa.Column("next_attempt_at", UtcDateTime(), nullable=True),
    sa.Column("started_at", UtcDateTime(), nullable=True),
    sa.Column("finished_at", UtcDateTime(), nullable=True),
    sa.Column("duration_ms", sa.Integer(), nullable=True),
    sa.Column("http_status", sa.Integer(), nullable=True),
    sa.Column("error", sa.String(4000), nullable=True),
    sa.Column("request_id", sa.String(64), nullable=True),
    sa.Column("version_id", ID, nullable=True),
    sa.Column("content_hash", sa.String(128), nullable=True),
    sa.Column("lease_owner", sa.String(128), nullable=True),
    sa.Column("lease_expires_at", UtcDateTime(), nullable=True),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.UniqueConstraint("tenant_id", "idempotency_key"),
    sa.Index(None, "tenant_id", "schedule_id", "scheduled_for"),
    sa.Index(None, "status", "next_attempt_at"),
)

tenant_extension_audit = sa.Table(
    "tenant_extension_audit",
    metadata,
    sa.Column("tenant_id", ID, primary_key=True),
    sa.Column("id", ID, primary_key=True),
    sa.Column("actor", sa.String(256), nullable=False),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("target_type", sa.String(32), nullable=False),
    sa.Column("target_id", ID, nullable=False),
    sa.Column("details", json_type(), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Index(None, "tenant_id", "created_at"),
)

tenant_settings = sa.Table(
    "tenant_settings",
    metadata,
    sa.Column("tenant_id", ID, primary_key=True),
    sa.Column("default_timezone", sa.String(64), nullable=False),
    sa.Column("schedules_paused", sa.Boolean(), nullable=False),
    *_timestamps(),
)

# A schedule change writes its row and one of these in the same transaction; the intent is applied
# to the backend after commit and deleted once it sticks (SPEC §7.1).
tenant_extension_sync_intent = sa.Table(
    "tenant_extension_sync_intent",
    metadata,
    sa.Column("tenant_id", ID, primary_key=True),
    sa.Column("id", ID, primary_key=True),
    sa.Column("schedule_id", ID, nullable=False),
    sa.Column("install_id", ID, nullable=False),
    sa.Column("attempts", sa.Integer(), nullable=False),
    sa.Column("last_error", sa.String(4000), nullable=True),
    sa.Column("not_before", UtcDateTime(), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Index(None, "not_before"),
)

# Every attempt of every run: the Runner call's request id, timing and outcome.
tenant_extension_run_attempt = sa.Table(
    "tenant_extension_run_attempt",
    metadata,
    sa.Column("tenant_id", ID, primary_key=True),
    sa.Column("id", ID, primary_key=True),
    sa.Column("run_id", ID, nullable=False),
    sa.Column("schedule_id", ID, nullable=False),
    sa.Column("attempt", sa.Integer(), nullable=False),
    sa.Column("request_id", sa.String(64), nullable=False),
    sa.Column("started_at", UtcDateTime(), nullable=False),
    sa.Column("finished_at", UtcDateTime(), nullable=False),
    sa.Column("duration_ms", sa.Integer(), nullable=False),
    sa.Column("outcome", sa.String(16), nullable=False),
    sa.Column("http_status", sa.Integer(), nullable=True),
    sa.Column("error", sa.String(4000), nullable=True),
    sa.Column("worker", sa.String(256), nullable=True),  # the lease owner that made the call
    sa.Index(None, "tenant_id", "run_id"),
)

# Embedded backend state, apart from the domain tables: the domain never reads it.
embedded_schedule = sa.Table(
    "extsched_embedded_schedule",
    metadata,
    sa.Column("tenant_id", ID, primary_key=True),
    sa.Column("schedule_id", ID, primary_key=True),
    sa.Column("install_id", ID, nullable=False),
    sa.Column("cron", sa.String(128), nullable=False),
    sa.Column("timezone", sa.String(64), nullable=False),
    sa.Column("jitter_seconds", sa.Integer(), nullable=False),
    sa.Column("paused", sa.Boolean(), nullable=False),
    # The last occurrence already turned into runs; the next ones are computed from it.
    sa.Column("last_fired_for", UtcDateTime(), nullable=True),
    sa.Column("next_fire_for", UtcDateTime(), nullable=True),
    # next_fire_for plus this schedule's jitter: when the dispatcher acts.
    sa.Column("fire_at", UtcDateTime(), nullable=True),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
    sa.Index(None, "paused", "fire_at"),
)

TENANT_TABLES = (
    tenant_extension_install,
    tenant_extension_schedule,
    tenant_extension_schedule_run,
    tenant_extension_audit,
    tenant_settings,
    tenant_extension_sync_intent,
    tenant_extension_run_attempt,
    embedded_schedule,
)
