"""Loan contracts and their signatures with validation data, sealed (R-10.1, R-12.1, R-12.2).

Revision ID: 0004
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0002"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "contracts",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("lender_id", sa.String(36), sa.ForeignKey("lenders.id"), nullable=False),
        sa.Column("client_id", sa.String(36), sa.ForeignKey("clients.id"), nullable=False),
        sa.Column("kek_id", sa.String(32), nullable=False),
        sa.Column("data_key", sa.LargeBinary, nullable=False),
        sa.Column("sealed", sa.LargeBinary, nullable=False),
        sa.Column("has_document", sa.Boolean, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
    )
    op.create_index("ix_contracts_client", "contracts", ["client_id"])
    op.create_table(
        "contract_signatures",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("contract_id", sa.String(36), sa.ForeignKey("contracts.id"), nullable=False),
        sa.Column("method", sa.String(16), nullable=False),
        sa.Column("sealed", sa.LargeBinary, nullable=False),
        sa.Column("signed_at", TZ, nullable=False),
    )
    op.create_index("ix_contract_signatures_contract", "contract_signatures", ["contract_id"])


def downgrade() -> None:
    op.drop_table("contract_signatures")
    op.drop_table("contracts")
