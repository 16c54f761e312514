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
    Column("identified_at", DateTime(timezone=True), nullable=True),  # registration completed, 0006
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

# The face encoding of a client's photo or identity document (R-7.3b(i)), computed once per file and encoder
# model and sealed under the client's data key (an encoding is biometric data); 0013.
face_references = Table(
    "face_references",
    metadata,
    Column("file_id", String(36), ForeignKey("client_files.id"), nullable=False),
    Column("model", String(40), nullable=False),
    Column("client_id", String(36), ForeignKey("clients.id"), nullable=False),
    Column("sealed", LargeBinary, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("file_id", "model", name="pk_face_references"),
    Index("ix_face_references_client", "client_id"),
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
    Column("headers", Text, nullable=True),  # JSON: the stored answer's headers (Location, Content-Type)
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
    # migration 0006: the profile judged, how it ended, the signed result
    Column("profile", String(40), nullable=False, server_default="res63-2021"),
    Column("ended_at", DateTime(timezone=True), nullable=True),
    Column("failure_code", String(64), nullable=True),
    Column("failure_reason", Text, nullable=True),
    Column("attestation", Text, nullable=True),
    Column("risk", Text, nullable=True),  # JSON: grey-list hits and other signals the lender should weigh
    Index("ix_identifications_client", "client_id"),
    Index("ix_identifications_due", "status", "expires_at"),
)

# Device and session signals sent with a step (R-NB.5, R-AF.1): flags in the clear, the device id as a keyed
# hash (for the lists), geolocation and the rest sealed under the row's own data key (migration 0006).
identification_signals = Table(
    "identification_signals",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("identification_id", String(36), ForeignKey("identifications.id"), nullable=False),
    Column("method", String(32), nullable=False),
    Column("flags", Text, nullable=False),
    Column("device_mac", LargeBinary(32), nullable=True),
    Column("kek_id", String(32), nullable=True),
    Column("data_key", LargeBinary, nullable=True),
    Column("sealed", LargeBinary, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_identification_signals_ident", "identification_id"),
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

# Entries wait here, written in the same transaction as the change they record, until the chainer links
# them into audit_log in order (one head lock per batch instead of one per request).
audit_pending = Table(
    "audit_pending",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("at", String(32), nullable=False),
    Column("event", String(64), nullable=False),
    Column("lender_id", String(36), nullable=True),
    Column("subject", String(80), nullable=True),
    Column("details", Text, nullable=False),
    Column("key_id", String(32), nullable=False),
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

# --- second factors and outside registries (migration 0003) -----------------------------------

# SMS / contract one-time codes: only a keyed hash of the code is kept (bound to its context).
otp_codes = Table(
    "otp_codes",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("lender_id", String(36), nullable=False),
    Column("client_id", String(36), nullable=False),
    Column("binding", String(200), nullable=False),  # "ident:<id>:<operation>" or "contract:<id>:<sha256>"
    Column("code_mac", String(64), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("max_attempts", Integer, nullable=False),
    Column("used_at", DateTime(timezone=True), nullable=True),
    Index("ix_otp_codes_binding", "binding", "created_at"),
)

# The SMS outbox: phone and text sealed under the row's own data key; workers claim rows atomically.
sms_outbox = Table(
    "sms_outbox",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("status", String(16), nullable=False),  # queued | sending | sent | delivered | failed
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False),
    Column("claimed_until", DateTime(timezone=True), nullable=True),
    Column("kek_id", String(32), nullable=False),
    Column("data_key", LargeBinary, nullable=False),
    Column("payload_sealed", LargeBinary, nullable=False),
    Column("gateway", String(32), nullable=True),
    Column("message_id", String(100), nullable=True),
    Column("error", String(64), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("ix_sms_outbox_due", "status", "next_attempt_at"),
    Index("ix_sms_outbox_message", "message_id"),
)

# TOTP authenticators and HOTP hardware tokens; the seed is sealed, counters move by conditional UPDATE.
otp_tokens = Table(
    "otp_tokens",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("lender_id", String(36), nullable=False),
    Column("client_id", String(36), nullable=True),
    Column("kind", String(8), nullable=False),  # totp | hotp
    Column("serial", String(64), nullable=True),
    Column("status", String(16), nullable=False),  # pending | active
    Column("kek_id", String(32), nullable=False),
    Column("data_key", LargeBinary, nullable=False),
    Column("secret_sealed", LargeBinary, nullable=False),
    Column("algorithm", String(8), nullable=False),
    Column("digits", Integer, nullable=False),
    Column("period", Integer, nullable=False),
    Column("counter", BigInteger, nullable=False),  # HOTP: next unused counter
    Column("last_step", BigInteger, nullable=True),  # TOTP: last accepted time step
    Column("drift", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=True),  # a temporary replacement's end (0016)
    UniqueConstraint("lender_id", "serial", name="uq_otp_tokens_serial"),
    Index("ix_otp_tokens_client", "client_id"),
)

# Abuse limits (SMS pumping, guessing): fixed-window counters and escalating delays, shared by processes.
throttles = Table(
    "throttles",
    metadata,
    Column("scope", String(80), primary_key=True),  # "<kind>:<keyed hash>"; never a raw phone or IP
    Column("window_start", BigInteger, nullable=False),
    Column("count", Integer, nullable=False),
    Column("failures", Integer, nullable=False),
    Column("blocked_until", BigInteger, nullable=False),
)

# The per-account bound on guessing (issue 16, NIST SP 800-63B §5.2.2): consecutive wrong answers on one
# person's factor, whatever the address, process or lender; at the limit the factor is suspended (migration 0016).
# ``person_mac`` is the clients' ``iin_mac``: the same person at every lender.
factor_bounds = Table(
    "factor_bounds",
    metadata,
    Column("person_mac", LargeBinary(32), nullable=False),
    Column("factor", String(16), nullable=False),  # sms (also voice) | totp | hotp | password
    Column("failures", Integer, nullable=False),
    Column("suspended_at", DateTime(timezone=True), nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("person_mac", "factor", name="pk_factor_bounds"),
)

# Mobile-operator answers cached by a keyed hash of (IIN, phone).
telco_checks = Table(
    "telco_checks",
    metadata,
    Column("key_mac", LargeBinary(32), primary_key=True),
    Column("answer", Text, nullable=False),
    Column("fetched_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)

# Cabinet log-in passwords: argon2id PHC strings.
client_passwords = Table(
    "client_passwords",
    metadata,
    Column("client_id", String(36), ForeignKey("clients.id"), primary_key=True),
    Column("hash", String(255), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# --- Loan contracts and their signatures (R-10.1, R-12.1, R-12.2) ----------------------------
# The document, its SHA-256 and every signature with its validation data are sealed under the contract's
# data key (loan secrets, R-12.2); only ids, state and times are plain.
contracts = Table(
    "contracts",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("lender_id", String(36), ForeignKey("lenders.id"), nullable=False),
    Column("client_id", String(36), ForeignKey("clients.id"), nullable=False),
    Column("kek_id", String(32), nullable=False),
    Column("data_key", LargeBinary, nullable=False),
    Column("sealed", LargeBinary, nullable=False),
    Column("has_document", Boolean, nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("ix_contracts_client", "client_id"),
)

contract_signatures = Table(
    "contract_signatures",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("contract_id", String(36), ForeignKey("contracts.id"), nullable=False),
    Column("method", String(16), nullable=False),
    Column("sealed", LargeBinary, nullable=False),
    Column("signed_at", DateTime(timezone=True), nullable=False),
    Index("ix_contract_signatures_contract", "contract_id"),
)

# --- liveness captures and their fingerprints (migration 0005) -----------------------------------------

liveness_captures = Table(
    "liveness_captures",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("identification_id", String(36), ForeignKey("identifications.id"), nullable=False),
    Column("client_id", String(36), nullable=False),
    Column("passed", Boolean, nullable=False),
    Column("fingerprint", Text, nullable=True),
    Column("kek_id", String(32), nullable=False),
    Column("data_key", LargeBinary, nullable=True),  # dropped with the media: what is left can't be opened
    Column("media_sealed", LargeBinary, nullable=True),
    Column("best_frame_sealed", LargeBinary, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("media_delete_at", DateTime(timezone=True), nullable=False),
    Index("ix_liveness_captures_client", "client_id"),
    Index("ix_liveness_captures_created", "created_at"),
)

# --- grey and black lists, incidents (migration 0006_incidents) ----------------------------------------
# A listed identifier is kept only as a keyed hash (``value_mac``, the KeyStore's index MAC under the purpose
# "list-<kind>"), never as text. ``scope`` is "national" (the Anti-fraud centre's lists) or a lender id.
list_entries = Table(
    "list_entries",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("scope", String(36), nullable=False),
    Column("list", String(8), nullable=False),  # grey | black
    Column("kind", String(16), nullable=False),  # phone | iin | device_id | iban
    Column("value_mac", LargeBinary(32), nullable=False),
    Column("source", String(16), nullable=False),  # incident | afc | lender
    Column("source_ref", String(64), nullable=False),  # the incident id, the AFC's entry id, "" for a lender's
    Column("reason", String(200), nullable=False),
    Column("added_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=True),
    UniqueConstraint("scope", "source", "source_ref", "kind", "value_mac", "list", name="uq_list_entries_entry"),
    Index("ix_list_entries_value", "kind", "value_mac"),
)

# Where each pulled feed stands (the AFC's change cursor); moved by compare-and-set so two processes
# pulling at once apply a page once.
list_feeds = Table(
    "list_feeds",
    metadata,
    Column("source", String(16), primary_key=True),
    Column("cursor", String(200), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# Incidents: the description is sealed under the incident's data key; deadlines are
# instants (the end of a working day) with the local date they fall on.
incidents = Table(
    "incidents",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("lender_id", String(36), ForeignKey("lenders.id"), nullable=False),
    Column("client_id", String(36), ForeignKey("clients.id"), nullable=False),
    Column("contract_id", String(36), nullable=True),
    Column("loan_ref", String(64), nullable=True),
    Column("kind", String(32), nullable=False),
    Column("confirmed_by_police", Boolean, nullable=False),
    Column("status", String(16), nullable=False),  # open | overdue | closed
    Column("kek_id", String(32), nullable=False),
    Column("data_key", LargeBinary, nullable=False),
    Column("sealed", LargeBinary, nullable=False),
    Column("detected_at", DateTime(timezone=True), nullable=False),
    Column("calendar_covered", Boolean, nullable=False),
    Column("client_due_on", String(10), nullable=False),
    Column("client_due_at", DateTime(timezone=True), nullable=False),
    Column("regulator_due_on", String(10), nullable=False),
    Column("regulator_due_at", DateTime(timezone=True), nullable=False),
    Column("measures_due_on", String(10), nullable=False),
    Column("measures_due_at", DateTime(timezone=True), nullable=False),
    Column("client_informed_at", DateTime(timezone=True), nullable=True),
    Column("regulator_informed_at", DateTime(timezone=True), nullable=True),
    Column("measures_taken_at", DateTime(timezone=True), nullable=True),
    Column("closed_at", DateTime(timezone=True), nullable=True),
    Column("loan_suspended", Boolean, nullable=False),  # interest accrual and collection
    Column("sms_id", String(36), nullable=True),
    Column("afc_status", String(16), nullable=False),  # pending | exported
    Column("afc_ref", String(64), nullable=True),
    Column("afc_exported_at", DateTime(timezone=True), nullable=True),
    Column("notified", Text, nullable=False),  # JSON: the deadline events already raised, e.g. "client:near"
    Column("version", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("ix_incidents_lender_status", "lender_id", "status"),
    Index("ix_incidents_status", "status"),
    Index("ix_incidents_afc", "afc_status"),
    Index("ix_incidents_contract", "contract_id"),
)

# Lender callbacks (authsvc.webhooks): one endpoint per lender, its signing secret sealed under the row's data
# key (the previous secret too, while a rotation's grace period runs).
webhook_endpoints = Table(
    "webhook_endpoints",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("lender_id", String(36), ForeignKey("lenders.id"), nullable=False),
    Column("url", Text, nullable=False),
    Column("events", Text, nullable=True),  # ",a,b," (NULL: every event)
    Column("kek_id", String(32), nullable=False),
    Column("data_key", LargeBinary, nullable=False),
    Column("secret_sealed", LargeBinary, nullable=False),
    Column("previous_secret_sealed", LargeBinary, nullable=True),
    Column("previous_until", DateTime(timezone=True), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("lender_id", name="uq_webhook_endpoints_lender"),
)

# The delivery outbox: written in the transaction that caused the event, sent by the webhook worker. ``body``
# is the exact JSON posted, so every retry sends the same bytes under the same id.
webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("lender_id", String(36), nullable=False),
    Column("endpoint_id", String(36), nullable=False),
    Column("event", String(64), nullable=False),
    Column("body", Text, nullable=False),
    Column("status", String(16), nullable=False),  # queued | sending | delivered | dead
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False),
    Column("claimed_until", DateTime(timezone=True), nullable=True),
    Column("last_status", Integer, nullable=True),  # the receiver's HTTP status on the last try
    Column("last_error", String(64), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("delivered_at", DateTime(timezone=True), nullable=True),
    Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
    Index("ix_webhook_deliveries_lender", "lender_id", "created_at"),
)

# Hosted-page links (one identification each): only keyed hashes of the URL token and of the browser
# session it turns into at first open are kept.
flow_links = Table(
    "flow_links",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("identification_id", String(36), ForeignKey("identifications.id"), nullable=False),
    Column("lender_id", String(36), ForeignKey("lenders.id"), nullable=False),
    Column("token_mac", LargeBinary(32), nullable=False, unique=True),
    Column("session_mac", LargeBinary(32), nullable=True, unique=True),
    Column("return_url", Text, nullable=True),
    Column("locale", String(2), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("opened_at", DateTime(timezone=True), nullable=True),
    Column("session_expires_at", DateTime(timezone=True), nullable=True),
    Index("ix_flow_links_ident", "identification_id"),
)
