"""The per-account guessing bound (issue 16): consecutive failures per person and factor; temporary tokens.

Revision ID: 0016
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0003"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "factor_bounds",
        sa.Column("person_mac", sa.LargeBinary(32), nullable=False),
        sa.Column("factor", sa.String(16), nullable=False),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("suspended_at", TZ, nullable=True),
        sa.Column("updated_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("person_mac", "factor", name="pk_factor_bounds"),
    )
    with op.batch_alter_table("otp_tokens") as batch:
        batch.add_column(sa.Column("expires_at", TZ, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("otp_tokens") as batch:
        batch.drop_column("expires_at")
    op.drop_table("factor_bounds")
