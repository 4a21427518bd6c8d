"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "extension_api_endpoint",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("version_id", sa.String(length=64), nullable=False),
        sa.Column("method", sa.String(length=16), nullable=False),
        sa.Column("path", sa.String(length=1024), nullable=False),
        sa.Column("handler", sa.String(length=1024), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_extension_api_endpoint")),
        sa.UniqueConstraint(
            "version_id",
            "method",
            "path",
            name=op.f("uq_extension_api_endpoint_version_id_method_path"),
        ),
    )
    op.create_index(
        op.f("ix_extension_api_endpoint_version_id"),
        "extension_api_endpoint",
        ["version_id"],
        unique=False,
    )

    op.create_table(
        "extension_registry",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("publisher", sa.String(length=128), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("display_name", sa.String(length=256), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_extension_registry")),
        sa.UniqueConstraint("publisher", "name", name=op.f("uq_extension_registry_publisher_name")),
    )
    op.create_table(
        "extension_version",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("registry_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("runtime", sa.String(length=64), nullable=True),
        sa.Column("content_hash", sa.String(length=128), nullable=False),
        sa.Column(
            "manifest", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column(
            "capabilities", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column(
            "api_endpoints",
            sa.JSON().with_variant(postgresql.JSONB(), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_extension_version")),
        sa.UniqueConstraint(
            "registry_id", "version", name=op.f("uq_extension_version_registry_id_version")
        ),
    )
    op.create_table(
        "tenant_extension_audit",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("actor", sa.String(length=256), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("target_type", sa.String(length=32), nullable=False),
        sa.Column("target_id", sa.String(length=64), nullable=False),
        sa.Column(
            "details", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_tenant_extension_audit")),
    )
    op.create_index(
        op.f("ix_tenant_extension_audit_tenant_id_created_at"),
        "tenant_extension_audit",
        ["tenant_id", "created_at"],
        unique=False,
    )

    op.create_table(
        "tenant_extension_install",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("registry_id", sa.String(length=64), nullable=False),
        sa.Column("version_id", sa.String(length=64), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column(
            "config", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column(
            "granted_caps", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column(
            "secret_envelope",
            sa.JSON().with_variant(postgresql.JSONB(), "postgresql"),
            nullable=True,
        ),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_tenant_extension_install")),
        sa.UniqueConstraint(
            "tenant_id",
            "registry_id",
            name=op.f("uq_tenant_extension_install_tenant_id_registry_id"),
        ),
    )
    op.create_table(
        "tenant_extension_schedule",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("install_id", sa.String(length=64), nullable=False),
        sa.Column("endpoint_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=True),
        sa.Column("cron", sa.String(length=128), nullable=False),
        sa.Column("timezone", sa.String(length=64), server_default="UTC", nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column(
            "payload_json", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=True
        ),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("jitter_seconds", sa.Integer(), nullable=False),
        sa.Column("runner_schedule_id", sa.String(length=256), nullable=True),
        sa.Column("disabled_reason", sa.String(length=64), nullable=True),
        sa.Column("last_run_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_run_status", sa.String(length=16), nullable=True),
        sa.Column("last_error", sa.String(length=4000), nullable=True),
        sa.Column("last_success_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_tenant_extension_schedule")),
    )
    op.create_index(
        op.f("ix_tenant_extension_schedule_tenant_id_endpoint_id"),
        "tenant_extension_schedule",
        ["tenant_id", "endpoint_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_tenant_extension_schedule_tenant_id_install_id"),
        "tenant_extension_schedule",
        ["tenant_id", "install_id"],
        unique=False,
    )
    op.create_index(
        "uq_tenant_extension_schedule_tenant_id_install_id_name",
        "tenant_extension_schedule",
        ["tenant_id", "install_id", "name"],
        unique=True,
        sqlite_where=sa.text("name IS NOT NULL"),
        postgresql_where=sa.text("name IS NOT NULL"),
    )

    op.create_table(
        "tenant_extension_schedule_run",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("schedule_id", sa.String(length=64), nullable=False),
        sa.Column("install_id", sa.String(length=64), nullable=False),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column("scheduled_for", sa.DateTime(timezone=True), nullable=False),
        sa.Column("idempotency_key", sa.String(length=256), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("skip_reason", sa.String(length=64), nullable=True),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=True),
        sa.Column("http_status", sa.Integer(), nullable=True),
        sa.Column("error", sa.String(length=4000), nullable=True),
        sa.Column("request_id", sa.String(length=64), nullable=True),
        sa.Column("version_id", sa.String(length=64), nullable=True),
        sa.Column("content_hash", sa.String(length=128), nullable=True),
        sa.Column("lease_owner", sa.String(length=128), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_tenant_extension_schedule_run")),
        sa.UniqueConstraint(
            "tenant_id",
            "idempotency_key",
            name=op.f("uq_tenant_extension_schedule_run_tenant_id_idempotency_key"),
        ),
    )
    op.create_index(
        op.f("ix_tenant_extension_schedule_run_status_next_attempt_at"),
        "tenant_extension_schedule_run",
        ["status", "next_attempt_at"],
        unique=False,
    )
    op.create_index(
        op.f("ix_tenant_extension_schedule_run_tenant_id_schedule_id_scheduled_for"),
        "tenant_extension_schedule_run",
        ["tenant_id", "schedule_id", "scheduled_for"],
        unique=False,
    )

    op.create_table(
        "tenant_extension_sync_intent",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("schedule_id", sa.String(length=64), nullable=False),
        sa.Column("install_id", sa.String(length=64), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(length=4000), nullable=True),
        sa.Column("not_before", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_tenant_extension_sync_intent")),
    )
    op.create_index(
        op.f("ix_tenant_extension_sync_intent_not_before"),
        "tenant_extension_sync_intent",
        ["not_before"],
        unique=False,
    )

    op.create_table(
        "tenant_settings",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("default_timezone", sa.String(length=64), nullable=False),
        sa.Column("schedules_paused", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_tenant_settings")),
    )


def downgrade() -> None:

    op.drop_table("tenant_settings")
    op.drop_index(
        op.f("ix_tenant_extension_sync_intent_not_before"),
        table_name="tenant_extension_sync_intent",
    )

    op.drop_table("tenant_extension_sync_intent")
    op.drop_index(
        op.f("ix_tenant_extension_schedule_run_tenant_id_schedule_id_scheduled_for"),
        table_name="tenant_extension_schedule_run",
    )
    op.drop_index(
        op.f("ix_tenant_extension_schedule_run_status_next_attempt_at"),
        table_name="tenant_extension_schedule_run",
    )

    op.drop_table("tenant_extension_schedule_run")
    op.drop_index(
        "uq_tenant_extension_schedule_tenant_id_install_id_name",
        table_name="tenant_extension_schedule",
    )
    op.drop_index(
        op.f("ix_tenant_extension_schedule_tenant_id_install_id"),
        table_name="tenant_extension_schedule",
    )
    op.drop_index(
        op.f("ix_tenant_extension_schedule_tenant_id_endpoint_id"),
        table_name="tenant_extension_schedule",
    )

    op.drop_table("tenant_extension_schedule")
    op.drop_table("tenant_extension_install")
    op.drop_index(
        op.f("ix_tenant_extension_audit_tenant_id_created_at"), table_name="tenant_extension_audit"
    )

    op.drop_table("tenant_extension_audit")
    op.drop_table("extension_version")
    op.drop_table("extension_registry")
    op.drop_index(op.f("ix_extension_api_endpoint_version_id"), table_name="extension_api_endpoint")

    op.drop_table("extension_api_endpoint")
