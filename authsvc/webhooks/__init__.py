"""Lender callbacks: signed webhooks, sent from an outbox (issue 10, item 6).

- `enqueue(tx, lender_id, event, data)`: queue an event in the caller's transaction (what the flows call);
- `Endpoints`: the lender's endpoint (URL, events, sealed secret), configured over /v1/webhook;
- `WebhookWorker`: the background sender (retries with back-off, leases safe across processes);
- `signing.verify`: the signature check for lenders (``Authsvc-Signature: t=…,v1=…``).
"""

from authsvc.webhooks.endpoints import Endpoints
from authsvc.webhooks.events import EVENTS
from authsvc.webhooks.outbox import enqueue
from authsvc.webhooks.signing import verify
from authsvc.webhooks.worker import WebhookWorker

__all__ = ["EVENTS", "Endpoints", "WebhookWorker", "enqueue", "verify"]
