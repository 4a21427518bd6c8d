"""Run attempts and the embedded backend's schedule table.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from extsched.store.citus import distribute

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "extsched_embedded_schedule",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("schedule_id", sa.String(length=64), nullable=False),
        sa.Column("install_id", sa.String(length=64), nullable=False),
        sa.Column("cron", sa.String(length=128), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("jitter_seconds", sa.Integer(), nullable=False),
        sa.Column("paused", sa.Boolean(), nullable=False),
        sa.Column("last_fired_for", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_fire_for", sa.DateTime(timezone=True), nullable=True),
        sa.Column("fire_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint(
            "tenant_id", "schedule_id", name=op.f("pk_extsched_embedded_schedule")
        ),
    )
    op.create_index(
        op.f("ix_extsched_embedded_schedule_paused_fire_at"),
        "extsched_embedded_schedule",
        ["paused", "fire_at"],
    )
    op.create_table(
        "tenant_extension_run_attempt",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("run_id", sa.String(length=64), nullable=False),
        sa.Column("schedule_id", sa.String(length=64), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("http_status", sa.Integer(), nullable=True),
        sa.Column("error", sa.String(length=4000), nullable=True),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_tenant_extension_run_attempt")),
    )
    op.create_index(
        op.f("ix_tenant_extension_run_attempt_tenant_id_run_id"),
        "tenant_extension_run_attempt",
        ["tenant_id", "run_id"],
    )
    distribute(
        op.get_bind(),
        reference=(),
        distributed=("extsched_embedded_schedule", "tenant_extension_run_attempt"),
    )


def downgrade() -> None:
    op.drop_index(
        op.f("ix_tenant_extension_run_attempt_tenant_id_run_id"),
        table_name="tenant_extension_run_attempt",
    )
    op.drop_table("tenant_extension_run_attempt")
    op.drop_index(
        op.f("ix_extsched_embedded_schedule_paused_fire_at"),
        table_name="extsched_embedded_schedule",
    )
    op.drop_table("extsched_embedded_schedule")
