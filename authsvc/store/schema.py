"""The database schema (SQLAlchemy Core), the same on SQLite and PostgreSQL.

Personal data lives only inside ``*_sealed`` columns (AES-256-GCM under the record's data key, see
`authsvc.crypto.envelope`); look-ups use keyed hashes (``*_mac``). Migrations in `migrations/versions`
create exactly these tables; a test compares them.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

lenders = Table(
    "lenders",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("key_id", String(32), nullable=False, unique=True),
    Column("key_hash", LargeBinary(32), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("disabled_at", DateTime(timezone=True), nullable=True),
)

clients = Table(
    "clients",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("lender_id", String(36), ForeignKey("lenders.id"), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("iin_mac", LargeBinary(32), nullable=False),
    Column("test_pki", Boolean, nullable=False),
    Column("kek_id", String(32), nullable=False),
    Column("data_key", LargeBinary, nullable=False),
    Column("pii_sealed", LargeBinary, nullable=False),
    Column("card_token", String(64), nullable=True),
    Column("card_last4", String(4), nullable=True),
    Column("version", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("lender_id", "iin_mac", name="uq_clients_lender_iin"),
)

client_files = Table(
    "client_files",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("client_id", String(36), ForeignKey("clients.id"), nullable=False),
    Column("kind", String(40), nullable=False),
    Column("content_type", String(40), nullable=False),
    Column("size", Integer, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("sealed", LargeBinary, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_client_files_client", "client_id"),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("lender_id", String(36), nullable=False),
    Column("key", String(200), nullable=False),
    Column("request_mac", LargeBinary(32), nullable=False),
    Column("status", Integer, nullable=False),
    Column("body", LargeBinary, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("lender_id", "key", name="pk_idempotency_keys"),
)

identifications = Table(
    "identifications",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("lender_id", String(36), ForeignKey("lenders.id"), nullable=False),
    Column("client_id", String(36), ForeignKey("clients.id"), nullable=False),
    Column("operation", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("completed_at", DateTime(timezone=True), nullable=True),
    Column("consumed_at", DateTime(timezone=True), nullable=True),
    Index("ix_identifications_client", "client_id"),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("at", String(32), nullable=False),
    Column("event", String(64), nullable=False),
    Column("lender_id", String(36), nullable=True),
    Column("subject", String(80), nullable=True),
    Column("details", Text, nullable=False),
    Column("key_id", String(32), nullable=False),
    Column("prev_hash", LargeBinary(32), nullable=False),
    Column("entry_hash", LargeBinary(32), nullable=False),
    Column("signature", LargeBinary(64), nullable=False),
)

audit_head = Table(
    "audit_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", BigInteger, nullable=False),
    Column("entry_hash", LargeBinary(32), nullable=False),
    Column("at", String(32), nullable=False),
    Column("key_id", String(32), nullable=False),
    Column("signature", LargeBinary(64), nullable=False),
)

rate_windows = Table(
    "rate_windows",
    metadata,
    Column("lender_id", String(36), nullable=False),
    Column("window_start", BigInteger, nullable=False),
    Column("count", Integer, nullable=False),
    PrimaryKeyConstraint("lender_id", "window_start", name="pk_rate_windows"),
)

# --- identification steps, challenges, anti-reuse (migration 0002) ------------------------------------

identification_steps = Table(
    "identification_steps",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("identification_id", String(36), ForeignKey("identifications.id"), nullable=False),
    Column("method", String(32), nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("details", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_identification_steps_ident", "identification_id"),
)

challenges = Table(
    "challenges",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("identification_id", String(36), ForeignKey("identifications.id"), nullable=False),
    Column("method", String(32), nullable=False),
    Column("nonce_mac", LargeBinary(32), nullable=False, unique=True),
    Column("payload", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("used_at", DateTime(timezone=True), nullable=True),
    Index("ix_challenges_ident", "identification_id"),
)

used_evidence = Table(
    "used_evidence",
    metadata,
    Column("kind", String(32), nullable=False),
    Column("digest", LargeBinary(32), nullable=False),
    Column("identification_id", String(36), nullable=False),
    Column("used_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("kind", "digest", name="pk_used_evidence"),
)
