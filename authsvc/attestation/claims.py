"""The claims of an identification's attestation, in one shape: what the lender keeps to show the regulator
later which checks were done (R-7.x methods, R-12.3 one identification for one operation).

Only identifiers and hashes: the token is readable by whoever holds it, so no IIN, name or phone in it.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


def rfc3339(at: datetime) -> str:
    """UTC, milliseconds, ``Z``: one spelling per instant."""
    if at.tzinfo is None:
        raise ValueError("an attestation time needs a time zone")
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class AttestedStep:
    """One step of the identification: its method (eds, liveness, cdao, telco, otp_sms, …), when it ended,
    its outcome and the SHA-256 (hex) of each piece of evidence it rests on."""

    method: str
    at: datetime
    outcome: str
    evidence_sha256: Sequence[str] = field(default_factory=tuple)

    def claim(self) -> dict[str, Any]:
        for digest in self.evidence_sha256:
            if not _SHA256_HEX.fullmatch(digest):
                raise ValueError(f"evidence hash {digest!r} is not a lower-case hex SHA-256")
        return {
            "method": self.method,
            "at": rfc3339(self.at),
            "outcome": self.outcome,
            "evidence_sha256": list(self.evidence_sha256),
        }


def identification_claims(
    *,
    issuer: str,
    client_id: str,
    lender_id: str,
    operation: str,
    profile: str,
    identification_id: str,
    steps: Sequence[AttestedStep],
    issued_at: datetime,
    jti: str | None = None,
) -> dict[str, Any]:
    """The claims `Attestor.issue` signs for a completed identification (JWT names where RFC 7519 has one:
    ``iss``, ``sub`` the client, ``iat`` NumericDate seconds, ``jti`` unique per attestation)."""
    if issued_at.tzinfo is None:
        raise ValueError("issued_at needs a time zone")
    return {
        "iss": issuer,
        "sub": client_id,
        "lender": lender_id,
        "operation": operation,
        "profile": profile,
        "identification_id": identification_id,
        "iat": int(issued_at.timestamp()),
        "jti": jti or str(uuid.uuid4()),
        "steps": [step.claim() for step in steps],
    }
