"""Distribute tables with Citus when the extension is present (SPEC §3.3).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

from alembic import op

from extsched.store.citus import distribute

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

REFERENCE = ("extension_registry", "extension_version", "extension_api_endpoint")
DISTRIBUTED = (
    "tenant_extension_install",
    "tenant_extension_schedule",
    "tenant_extension_schedule_run",
    "tenant_extension_audit",
    "tenant_settings",
    "tenant_extension_sync_intent",
)


def upgrade() -> None:
    distribute(op.get_bind(), reference=REFERENCE, distributed=DISTRIBUTED)


def downgrade() -> None:
    # Undistributing is an operator's decision (undistribute_table copies data); leave it to them.
    pass
