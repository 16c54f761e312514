"""Names of audited security events: one place, so reports and queries agree."""

from __future__ import annotations

from enum import StrEnum


class AuditEvent(StrEnum):
    LENDER_CREATED = "lender.created"
    AUTH_FAILED = "auth.failed"
    CLIENT_REGISTERED = "client.registered"
    CLIENT_CONTACT_CHANGED = "client.contact_changed"
    CLIENT_CHANGE_REFUSED = "client.change_refused"
    CLIENT_DOCUMENT_ADDED = "client.document_added"  # an identity document given after the registration
    IDENTIFICATION_OPENED = "identification.opened"
    IDENTIFICATION_STEP = "identification.step"
    IDENTIFICATION_CONSUMED = "identification.consumed"
    IDENTIFICATION_COMPLETED = "identification.completed"
    IDENTIFICATION_FAILED = "identification.failed"
    IDENTIFICATION_EXPIRED = "identification.expired"
    CLIENT_IDENTIFIED = "client.identified"
    KEY_USED = "key.used"
    KEYS_INITIALISED = "keys.initialised"
    KEYS_ROTATED = "keys.rotated"
    KEYS_REWRAPPED = "keys.rewrapped"  # one batch of data keys re-wrapped under the current KEK
    CONFIG_CHANGED = "config.changed"
    SERVICE_STARTED = "service.started"
    # second factors and outside registries
    OTP_SENT = "otp.sent"
    OTP_VERIFIED = "otp.verified"
    OTP_REJECTED = "otp.rejected"
    TOTP_ENROLLED = "totp.enrolled"
    TOKEN_IMPORTED = "token.imported"
    TOKEN_ASSIGNED = "token.assigned"
    TOKEN_RESYNCED = "token.resynced"
    TOKEN_DISABLED = "token.disabled"
    TOKEN_ENABLED = "token.enabled"
    TOKEN_REVOKED = "token.revoked"
    TOKEN_UNASSIGNED = "token.unassigned"
    TOKEN_LOST = "token.lost"
    TOKENS_IMPORTED = "tokens.imported"  # a PSKC (RFC 6030) file
    TOTP_RESET = "totp.reset"
    FACTOR_SUSPENDED = "factor.suspended"
    FACTOR_REINSTATED = "factor.reinstated"
    PASSWORD_SET = "password.set"
    PASSWORD_CHECKED = "password.checked"
    TELCO_CHECKED = "telco.checked"
    CDAO_CHECKED = "cdao.checked"
    BUREAU_REFUSAL_CHECKED = "bureau.refusal_checked"
    BUREAU_APPLICATION_REPORTED = "bureau.application_reported"
    PAYOUT_ACCOUNT_CHECKED = "payout.account_checked"
    CONTRACT_CODE_ISSUED = "contract.code_issued"
    CONTRACT_CODE_VERIFIED = "contract.code_verified"
    # loan contracts
    CONTRACT_CREATED = "contract.created"
    CONTRACT_SIGNED = "contract.signed"
    CONTRACT_SIGNATURE_REJECTED = "contract.signature_rejected"
    # grey and black lists (R-NB.8), incidents
    LIST_ENTRY_ADDED = "list.entry_added"
    LIST_ENTRY_REMOVED = "list.entry_removed"
    INCIDENT_OPENED = "incident.opened"
    INCIDENT_ACTION = "incident.action"
    INCIDENT_CLOSED = "incident.closed"
    INCIDENT_DEADLINE_NEAR = "incident.deadline_near"
    INCIDENT_OVERDUE = "incident.overdue"
    INCIDENT_EXPORTED = "incident.exported"
    # lender callbacks
    WEBHOOK_CONFIGURED = "webhook.configured"
    WEBHOOK_SECRET_ROTATED = "webhook.secret_rotated"
    WEBHOOK_DELETED = "webhook.deleted"
    # hosted onboarding page
    LINK_ISSUED = "link.issued"
    LINK_OPENED = "link.opened"
    LINK_REFUSED = "link.refused"
    CAPTURE_TIMING = "capture.timing"
