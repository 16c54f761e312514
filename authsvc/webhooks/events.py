"""The events a lender can subscribe to, and the shape of what is posted."""

from __future__ import annotations

IDENTIFICATION_COMPLETED = "identification.completed"
IDENTIFICATION_FAILED = "identification.failed"
IDENTIFICATION_EXPIRED = "identification.expired"
INCIDENT_DEADLINE_NEAR = "incident.deadline_near"
INCIDENT_OVERDUE = "incident.overdue"
EVENTS = (
    IDENTIFICATION_COMPLETED,
    IDENTIFICATION_FAILED,
    IDENTIFICATION_EXPIRED,
    INCIDENT_DEADLINE_NEAR,
    INCIDENT_OVERDUE,
)
# Sent only on request (POST /v1/webhook/ping), whatever the endpoint subscribed to.
PING = "webhook.ping"
