"""Names of audited security events: one place, so reports and queries agree."""

from __future__ import annotations

from enum import StrEnum


class AuditEvent(StrEnum):
    LENDER_CREATED = "lender.created"
    AUTH_FAILED = "auth.failed"
    CLIENT_REGISTERED = "client.registered"
    CLIENT_CONTACT_CHANGED = "client.contact_changed"
    CLIENT_CHANGE_REFUSED = "client.change_refused"
    IDENTIFICATION_OPENED = "identification.opened"
    IDENTIFICATION_STEP = "identification.step"
    IDENTIFICATION_CONSUMED = "identification.consumed"
    KEY_USED = "key.used"
    KEYS_INITIALISED = "keys.initialised"
    KEYS_ROTATED = "keys.rotated"
    CONFIG_CHANGED = "config.changed"
    SERVICE_STARTED = "service.started"
