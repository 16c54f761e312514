"""Identification steps, single-use challenges and the used-evidence register (R-12.3).

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "identification_steps",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("identification_id", sa.String(36), sa.ForeignKey("identifications.id"), nullable=False),
        sa.Column("method", sa.String(32), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("details", sa.Text, nullable=False),
        sa.Column("created_at", TZ, nullable=False),
    )
    op.create_index("ix_identification_steps_ident", "identification_steps", ["identification_id"])
    op.create_table(
        "challenges",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("identification_id", sa.String(36), sa.ForeignKey("identifications.id"), nullable=False),
        sa.Column("method", sa.String(32), nullable=False),
        sa.Column("nonce_mac", sa.LargeBinary(32), nullable=False, unique=True),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("expires_at", TZ, nullable=False),
        sa.Column("used_at", TZ, nullable=True),
    )
    op.create_index("ix_challenges_ident", "challenges", ["identification_id"])
    op.create_table(
        "used_evidence",
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("digest", sa.LargeBinary(32), nullable=False),
        sa.Column("identification_id", sa.String(36), nullable=False),
        sa.Column("used_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("kind", "digest", name="pk_used_evidence"),
    )


def downgrade() -> None:
    for table in ("used_evidence", "challenges", "identification_steps"):
        op.drop_table(table)
