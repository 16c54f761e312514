"""Initial schema: lenders, clients and their files, idempotency keys, identifications, audit log, rate windows.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "lenders",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("key_id", sa.String(32), nullable=False, unique=True),
        sa.Column("key_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("disabled_at", TZ, nullable=True),
    )
    op.create_table(
        "clients",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("lender_id", sa.String(36), sa.ForeignKey("lenders.id"), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("iin_mac", sa.LargeBinary(32), nullable=False),
        sa.Column("test_pki", sa.Boolean, nullable=False),
        sa.Column("kek_id", sa.String(32), nullable=False),
        sa.Column("data_key", sa.LargeBinary, nullable=False),
        sa.Column("pii_sealed", sa.LargeBinary, nullable=False),
        sa.Column("card_token", sa.String(64), nullable=True),
        sa.Column("card_last4", sa.String(4), nullable=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
        sa.UniqueConstraint("lender_id", "iin_mac", name="uq_clients_lender_iin"),
    )
    op.create_table(
        "client_files",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("client_id", sa.String(36), sa.ForeignKey("clients.id"), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("content_type", sa.String(40), nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("sealed", sa.LargeBinary, nullable=False),
        sa.Column("created_at", TZ, nullable=False),
    )
    op.create_index("ix_client_files_client", "client_files", ["client_id"])
    op.create_table(
        "idempotency_keys",
        sa.Column("lender_id", sa.String(36), nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("request_mac", sa.LargeBinary(32), nullable=False),
        sa.Column("status", sa.Integer, nullable=False),
        sa.Column("body", sa.LargeBinary, nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("lender_id", "key", name="pk_idempotency_keys"),
    )
    op.create_table(
        "identifications",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("lender_id", sa.String(36), sa.ForeignKey("lenders.id"), nullable=False),
        sa.Column("client_id", sa.String(36), sa.ForeignKey("clients.id"), nullable=False),
        sa.Column("operation", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("expires_at", TZ, nullable=False),
        sa.Column("completed_at", TZ, nullable=True),
        sa.Column("consumed_at", TZ, nullable=True),
    )
    op.create_index("ix_identifications_client", "identifications", ["client_id"])
    op.create_table(
        "audit_log",
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("at", sa.String(32), nullable=False),
        sa.Column("event", sa.String(64), nullable=False),
        sa.Column("lender_id", sa.String(36), nullable=True),
        sa.Column("subject", sa.String(80), nullable=True),
        sa.Column("details", sa.Text, nullable=False),
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.Column("prev_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("entry_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("signature", sa.LargeBinary(64), nullable=False),
    )
    op.create_table(
        "audit_pending",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("at", sa.String(32), nullable=False),
        sa.Column("event", sa.String(64), nullable=False),
        sa.Column("lender_id", sa.String(36), nullable=True),
        sa.Column("subject", sa.String(80), nullable=True),
        sa.Column("details", sa.Text, nullable=False),
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.Column("signature", sa.LargeBinary(64), nullable=False),
    )
    head = op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("entry_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("at", sa.String(32), nullable=False),
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.Column("signature", sa.LargeBinary(64), nullable=False),
    )
    # The one head row every append locks; seq 0 is the empty log (the genesis hash is all zeros).
    op.bulk_insert(head, [{"id": 1, "seq": 0, "entry_hash": bytes(32), "at": "", "key_id": "", "signature": b""}])
    op.create_table(
        "rate_windows",
        sa.Column("lender_id", sa.String(36), nullable=False),
        sa.Column("window_start", sa.BigInteger, nullable=False),
        sa.Column("count", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("lender_id", "window_start", name="pk_rate_windows"),
    )


def downgrade() -> None:
    for table in (
        "rate_windows",
        "audit_head",
        "audit_pending",
        "audit_log",
        "identifications",
        "idempotency_keys",
        "client_files",
        "clients",
        "lenders",
    ):
        op.drop_table(table)
