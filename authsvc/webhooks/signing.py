"""The signature on every delivery, and the check a lender runs on receipt (Stripe-like).

Each POST carries ``Authsvc-Signature: t=<unix seconds>,v1=<hex>`` where
``hex = HMAC-SHA256(key=secret, msg=f"{t}.{body}")``: the secret is the endpoint's secret string exactly as
PUT /v1/webhook or POST /v1/webhook/rotate-secret answered it (``whsec_…``, its UTF-8 bytes are the key),
``body`` the raw request body as received (verify before parsing JSON). During the grace period after a
rotation the header holds one ``v1=`` per valid secret; any one matching is enough. A receiver refuses a
timestamp further than its tolerance from its own clock (a replayed old delivery), and de-duplicates on
the delivery id (``Authsvc-Delivery``, the same on every retry).

`verify` is the helper for lenders (pure standard library; copy it as it is).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Iterable

SIGNATURE_HEADER = "Authsvc-Signature"
DELIVERY_HEADER = "Authsvc-Delivery"
EVENT_HEADER = "Authsvc-Event"
SCHEME = "v1"
DEFAULT_TOLERANCE_S = 300


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of ``f"{timestamp}.{body}"`` under ``secret``."""
    return hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()


def header(secrets: Iterable[str], timestamp: int, body: bytes) -> str:
    """The Authsvc-Signature value: the timestamp, then one v1 per secret."""
    return ",".join([f"t={timestamp}", *(f"{SCHEME}={signature(s, timestamp, body)}" for s in secrets)])


def verify(
    secret: str, body: bytes, signature_header: str, *, tolerance_s: int = DEFAULT_TOLERANCE_S, now: float | None = None
) -> bool:
    """True when ``signature_header`` signs ``body`` under ``secret`` with a timestamp within ``tolerance_s``
    of ``now`` (default: the clock). Constant-time on the signature; never raises on a malformed header."""
    timestamp: int | None = None
    candidates: list[str] = []
    for part in signature_header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t" and value.isdigit() and len(value) <= 12:
            timestamp = int(value)
        elif name == SCHEME and value:
            candidates.append(value)
    if timestamp is None or not candidates:
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance_s:
        return False
    expected = signature(secret, timestamp, body)
    # Compare with every candidate (no early exit), so timing does not say which one matched.
    matched = False
    for candidate in candidates:
        matched |= hmac.compare_digest(expected, candidate)
    return matched
