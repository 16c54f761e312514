"""Identification flows: the profile judged, how it ended (failed/expired with a reason), the attestation;
device and session signals per step (geolocation sealed); when a client's registration was completed.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("identifications") as batch:
        batch.add_column(sa.Column("profile", sa.String(40), nullable=False, server_default="res63-2021"))
        batch.add_column(sa.Column("ended_at", TZ, nullable=True))
        batch.add_column(sa.Column("failure_code", sa.String(64), nullable=True))
        batch.add_column(sa.Column("failure_reason", sa.Text, nullable=True))
        batch.add_column(sa.Column("attestation", sa.Text, nullable=True))
        batch.add_column(sa.Column("risk", sa.Text, nullable=True))
    op.create_index("ix_identifications_due", "identifications", ["status", "expires_at"])
    with op.batch_alter_table("clients") as batch:
        batch.add_column(sa.Column("identified_at", TZ, nullable=True))
    op.create_table(
        "identification_signals",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("identification_id", sa.String(36), sa.ForeignKey("identifications.id"), nullable=False),
        sa.Column("method", sa.String(32), nullable=False),
        sa.Column("flags", sa.Text, nullable=False),
        sa.Column("device_mac", sa.LargeBinary(32), nullable=True),
        sa.Column("kek_id", sa.String(32), nullable=True),
        sa.Column("data_key", sa.LargeBinary, nullable=True),
        sa.Column("sealed", sa.LargeBinary, nullable=True),
        sa.Column("created_at", TZ, nullable=False),
    )
    op.create_index("ix_identification_signals_ident", "identification_signals", ["identification_id"])


def downgrade() -> None:
    op.drop_table("identification_signals")
    with op.batch_alter_table("clients") as batch:
        batch.drop_column("identified_at")
    op.drop_index("ix_identifications_due", "identifications")
    with op.batch_alter_table("identifications") as batch:
        for name in ("risk", "attestation", "failure_reason", "failure_code", "ended_at", "profile"):
            batch.drop_column(name)
