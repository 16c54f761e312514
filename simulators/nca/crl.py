"""RFC 5280 CRLs and delta CRLs (DER), signed by the issuing CA itself as NCA does."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from asn1crypto import crl, x509

from simulators.nca import certs
from simulators.nca.ca import KeyAndCert

REASONS = frozenset(crl.CRLReason._map.values())


def normalise_reason(reason: str) -> str:
    """Accept RFC 5280 camelCase ("keyCompromise") or snake_case ("key_compromise")."""
    snake = re.sub(r"(?<!^)(?=[A-Z])", "_", reason.strip()).lower()
    if snake not in REASONS:
        raise ValueError(f"unknown revocation reason {reason!r}; one of {sorted(REASONS)}")
    return snake


@dataclass(frozen=True)
class Entry:
    serial: int
    revoked_at: datetime
    reason: str  # asn1crypto CRLReason name


def _entry(entry: Entry) -> dict[str, object]:
    value: dict[str, object] = {
        "user_certificate": entry.serial,
        "revocation_date": certs.cert_time(entry.revoked_at),
    }
    if entry.reason != "unspecified":  # RFC 5280 §5.3.1: omit rather than write unspecified
        value["crl_entry_extensions"] = [
            {"extn_id": "crl_reason", "critical": False, "extn_value": crl.CRLReason(entry.reason)}
        ]
    return value


def build_crl(
    issuer: KeyAndCert,
    entries: Sequence[Entry],
    *,
    number: int,
    this_update: datetime,
    next_update: datetime,
    delta_of: int | None = None,
    freshest_url: str | None = None,
) -> bytes:
    """A complete CRL, or a delta CRL when `delta_of` names the base CRL number it extends."""
    extensions: list[dict[str, object]] = [
        {
            "extn_id": "authority_key_identifier",
            "critical": False,
            "extn_value": x509.AuthorityKeyIdentifier({"key_identifier": issuer.key_id}),
        },
        {"extn_id": "crl_number", "critical": False, "extn_value": number},
    ]
    if delta_of is not None:
        extensions.append({"extn_id": "delta_crl_indicator", "critical": True, "extn_value": delta_of})
    elif freshest_url is not None:
        extensions.append(
            {
                "extn_id": "freshest_crl",
                "critical": False,
                "extn_value": certs.distribution_points(freshest_url),
            }
        )
    algorithm = issuer.signer.signature_algorithm()
    tbs_value: dict[str, object] = {
        "version": "v2",
        "signature": algorithm,
        "issuer": issuer.name,
        "this_update": certs.cert_time(this_update),
        "next_update": certs.cert_time(next_update),
        "crl_extensions": extensions,
    }
    if entries:
        tbs_value["revoked_certificates"] = [_entry(e) for e in sorted(entries, key=lambda e: e.serial)]
    tbs = crl.TbsCertList(tbs_value)
    signed = crl.CertificateList(
        {
            "tbs_cert_list": tbs,
            "signature_algorithm": algorithm,
            "signature": issuer.signer.sign(tbs.dump()),
        }
    )
    return bytes(signed.dump())
