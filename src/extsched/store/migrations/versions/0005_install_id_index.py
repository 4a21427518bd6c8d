"""Installs found by their id alone, as the Runner's host API names them.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_tenant_extension_install_id", "tenant_extension_install", ["id"])


def downgrade() -> None:
    op.drop_index("ix_tenant_extension_install_id", table_name="tenant_extension_install")
