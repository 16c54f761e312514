"""Face references (issue 13): the sealed face encoding of a client's photo or identity document, computed once.

Revision ID: 0013
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "face_references",
        sa.Column("file_id", sa.String(36), sa.ForeignKey("client_files.id"), nullable=False),
        sa.Column("model", sa.String(40), nullable=False),
        sa.Column("client_id", sa.String(36), sa.ForeignKey("clients.id"), nullable=False),
        sa.Column("sealed", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("file_id", "model", name="pk_face_references"),
    )
    op.create_index("ix_face_references_client", "face_references", ["client_id"])


def downgrade() -> None:
    op.drop_table("face_references")
