"""Liveness captures: sealed raw media with a deletion time, best frame, fingerprint for the reuse check.

Revision ID: 0005
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0002"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "liveness_captures",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("identification_id", sa.String(36), sa.ForeignKey("identifications.id"), nullable=False),
        sa.Column("client_id", sa.String(36), nullable=False),
        sa.Column("passed", sa.Boolean, nullable=False),
        sa.Column("fingerprint", sa.Text, nullable=True),
        sa.Column("kek_id", sa.String(32), nullable=False),
        sa.Column("data_key", sa.LargeBinary, nullable=True),
        sa.Column("media_sealed", sa.LargeBinary, nullable=True),
        sa.Column("best_frame_sealed", sa.LargeBinary, nullable=True),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("media_delete_at", TZ, nullable=False),
    )
    op.create_index("ix_liveness_captures_client", "liveness_captures", ["client_id"])
    op.create_index("ix_liveness_captures_created", "liveness_captures", ["created_at"])


def downgrade() -> None:
    op.drop_table("liveness_captures")
