"""A certificate on a token with its private key, and whose it is (NCA profile, KZ-PKI.md §1).

The holder's name, IIN/BIN and role come from `authsvc.pki.certinfo`, the service's own parser of the
NCA profile: one reading of the profile for the service and the kiosk.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from authsvc.pki.certinfo import CertInfo, cert_info

KeyKind = Literal["rsa", "ec"]


@dataclass(frozen=True)
class Holder:
    """Whose certificate it is, as a kiosk shows it."""

    name: str
    iin: str | None
    bin: str | None
    organization: str | None
    roles: tuple[str, ...]
    subject_type: str
    not_before: datetime
    not_after: datetime

    @classmethod
    def of(cls, info: CertInfo) -> Holder:
        subject = info.subject
        return cls(
            name=subject.common_name or subject.dn,
            iin=subject.iin,
            bin=subject.bin,
            organization=subject.organization,
            roles=tuple(info.roles),
            subject_type=info.subject_type,
            not_before=info.not_before,
            not_after=info.not_after,
        )

    def valid_at(self, moment: datetime | None = None) -> bool:
        now = moment or datetime.now(UTC)
        return self.not_before <= now <= self.not_after

    def describe(self) -> str:
        parts = [self.name]
        if self.iin:
            parts.append(f"IIN {self.iin}")
        if self.bin:
            parts.append(f"BIN {self.bin}" + (f" ({self.organization})" if self.organization else ""))
        if self.roles:
            parts.append("role " + ", ".join(self.roles))
        parts.append(f"valid until {self.not_after:%Y-%m-%d}")
        return "; ".join(parts)


@dataclass(frozen=True)
class Credential:
    """A certificate and the private key next to it (same CKA_ID)."""

    key_id: bytes
    label: str
    key_kind: KeyKind
    certificate: bytes  # DER
    info: CertInfo

    @property
    def holder(self) -> Holder:
        return Holder.of(self.info)

    @classmethod
    def of(cls, key_id: bytes, label: str, key_kind: KeyKind, certificate: bytes) -> Credential:
        return cls(key_id, label, key_kind, certificate, cert_info(certificate))
