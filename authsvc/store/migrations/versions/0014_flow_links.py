"""Hosted-page links: keyed hashes of the URL token and of the browser session, expiry, return URL.

Revision ID: 0014
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0002"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "flow_links",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("identification_id", sa.String(36), sa.ForeignKey("identifications.id"), nullable=False),
        sa.Column("lender_id", sa.String(36), sa.ForeignKey("lenders.id"), nullable=False),
        sa.Column("token_mac", sa.LargeBinary(32), nullable=False, unique=True),
        sa.Column("session_mac", sa.LargeBinary(32), nullable=True, unique=True),
        sa.Column("return_url", sa.Text, nullable=True),
        sa.Column("locale", sa.String(2), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("expires_at", TZ, nullable=False),
        sa.Column("opened_at", TZ, nullable=True),
        sa.Column("session_expires_at", TZ, nullable=True),
    )
    op.create_index("ix_flow_links_ident", "flow_links", ["identification_id"])


def downgrade() -> None:
    op.drop_table("flow_links")
