"""Second factors and outside registries: one-time codes, SMS outbox, OTP tokens, throttles, telco
cache, client passwords.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "otp_codes",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("lender_id", sa.String(36), nullable=False),
        sa.Column("client_id", sa.String(36), nullable=False),
        sa.Column("binding", sa.String(200), nullable=False),
        sa.Column("code_mac", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("expires_at", TZ, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("max_attempts", sa.Integer, nullable=False),
        sa.Column("used_at", TZ, nullable=True),
    )
    op.create_index("ix_otp_codes_binding", "otp_codes", ["binding", "created_at"])
    op.create_table(
        "sms_outbox",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", TZ, nullable=False),
        sa.Column("claimed_until", TZ, nullable=True),
        sa.Column("kek_id", sa.String(32), nullable=False),
        sa.Column("data_key", sa.LargeBinary, nullable=False),
        sa.Column("payload_sealed", sa.LargeBinary, nullable=False),
        sa.Column("gateway", sa.String(32), nullable=True),
        sa.Column("message_id", sa.String(100), nullable=True),
        sa.Column("error", sa.String(64), nullable=True),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
    )
    op.create_index("ix_sms_outbox_due", "sms_outbox", ["status", "next_attempt_at"])
    op.create_index("ix_sms_outbox_message", "sms_outbox", ["message_id"])
    op.create_table(
        "otp_tokens",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("lender_id", sa.String(36), nullable=False),
        sa.Column("client_id", sa.String(36), nullable=True),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("serial", sa.String(64), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("kek_id", sa.String(32), nullable=False),
        sa.Column("data_key", sa.LargeBinary, nullable=False),
        sa.Column("secret_sealed", sa.LargeBinary, nullable=False),
        sa.Column("algorithm", sa.String(8), nullable=False),
        sa.Column("digits", sa.Integer, nullable=False),
        sa.Column("period", sa.Integer, nullable=False),
        sa.Column("counter", sa.BigInteger, nullable=False),
        sa.Column("last_step", sa.BigInteger, nullable=True),
        sa.Column("drift", sa.Integer, nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
        sa.UniqueConstraint("lender_id", "serial", name="uq_otp_tokens_serial"),
    )
    op.create_index("ix_otp_tokens_client", "otp_tokens", ["client_id"])
    op.create_table(
        "throttles",
        sa.Column("scope", sa.String(80), primary_key=True),
        sa.Column("window_start", sa.BigInteger, nullable=False),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("blocked_until", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "telco_checks",
        sa.Column("key_mac", sa.LargeBinary(32), primary_key=True),
        sa.Column("answer", sa.Text, nullable=False),
        sa.Column("fetched_at", TZ, nullable=False),
        sa.Column("expires_at", TZ, nullable=False),
    )
    op.create_table(
        "client_passwords",
        sa.Column("client_id", sa.String(36), sa.ForeignKey("clients.id"), primary_key=True),
        sa.Column("hash", sa.String(255), nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
    )


def downgrade() -> None:
    for table in ("client_passwords", "telco_checks", "throttles", "otp_tokens", "sms_outbox", "otp_codes"):
        op.drop_table(table)
