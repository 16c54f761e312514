"""Grey and black lists (keyed hashes only), the AFC feed cursor, incidents with their deadlines.

Revision ID: 0006_incidents
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_incidents"
down_revision = "0001"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "list_entries",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("scope", sa.String(36), nullable=False),
        sa.Column("list", sa.String(8), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("value_mac", sa.LargeBinary(32), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("source_ref", sa.String(64), nullable=False),
        sa.Column("reason", sa.String(200), nullable=False),
        sa.Column("added_at", TZ, nullable=False),
        sa.Column("expires_at", TZ, nullable=True),
        sa.UniqueConstraint("scope", "source", "source_ref", "kind", "value_mac", "list", name="uq_list_entries_entry"),
    )
    op.create_index("ix_list_entries_value", "list_entries", ["kind", "value_mac"])
    op.create_table(
        "list_feeds",
        sa.Column("source", sa.String(16), primary_key=True),
        sa.Column("cursor", sa.String(200), nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
    )
    op.create_table(
        "incidents",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("lender_id", sa.String(36), sa.ForeignKey("lenders.id"), nullable=False),
        sa.Column("client_id", sa.String(36), sa.ForeignKey("clients.id"), nullable=False),
        sa.Column("contract_id", sa.String(36), nullable=True),
        sa.Column("loan_ref", sa.String(64), nullable=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("confirmed_by_police", sa.Boolean, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("kek_id", sa.String(32), nullable=False),
        sa.Column("data_key", sa.LargeBinary, nullable=False),
        sa.Column("sealed", sa.LargeBinary, nullable=False),
        sa.Column("detected_at", TZ, nullable=False),
        sa.Column("calendar_covered", sa.Boolean, nullable=False),
        sa.Column("client_due_on", sa.String(10), nullable=False),
        sa.Column("client_due_at", TZ, nullable=False),
        sa.Column("regulator_due_on", sa.String(10), nullable=False),
        sa.Column("regulator_due_at", TZ, nullable=False),
        sa.Column("measures_due_on", sa.String(10), nullable=False),
        sa.Column("measures_due_at", TZ, nullable=False),
        sa.Column("client_informed_at", TZ, nullable=True),
        sa.Column("regulator_informed_at", TZ, nullable=True),
        sa.Column("measures_taken_at", TZ, nullable=True),
        sa.Column("closed_at", TZ, nullable=True),
        sa.Column("loan_suspended", sa.Boolean, nullable=False),
        sa.Column("sms_id", sa.String(36), nullable=True),
        sa.Column("afc_status", sa.String(16), nullable=False),
        sa.Column("afc_ref", sa.String(64), nullable=True),
        sa.Column("afc_exported_at", TZ, nullable=True),
        sa.Column("notified", sa.Text, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
    )
    op.create_index("ix_incidents_lender_status", "incidents", ["lender_id", "status"])
    op.create_index("ix_incidents_status", "incidents", ["status"])
    op.create_index("ix_incidents_afc", "incidents", ["afc_status"])
    op.create_index("ix_incidents_contract", "incidents", ["contract_id"])


def downgrade() -> None:
    op.drop_table("incidents")
    op.drop_table("list_feeds")
    op.drop_table("list_entries")
