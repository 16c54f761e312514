"""The EDS identification step (R-7.1, R-12.3): the client signs a single-use challenge with an NCA key.

1. ``issue_challenge``: 32 random bytes, stored only as a keyed hash (`authsvc.store.challenges`), bound to
   the identification (so to its lender, client and operation) and to an expiry (``[pki] challenge_ttl_s``).
   The client signs exactly these bytes with NCALayer's ``createCMSSignatureFromBase64`` (attached, or
   detached and then sent back beside the CMS) or the kiosk agent.
2. ``submit``: the CMS is verified (signature, chain to a pinned NCA root, revocation under the policy, at
   the current time); the signed content must be a challenge issued for this identification, unused and
   unexpired; SERIALNUMBER's IIN must be the client's IIN — for a legal entity also OU's BIN must be the
   client's BIN and a role from ``[pki] legal_entity_roles`` must be present. The CMS digest is claimed in
   the used-evidence register and the challenge is spent whatever the verdict, so neither can be replayed,
   here or on another identification. Every attempt records a step and an audit entry (no personal data).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from authsvc import error_codes
from authsvc.cabinet.service import PII
from authsvc.config import PkiSettings
from authsvc.crypto.envelope import RecordCipher, WrappedKey
from authsvc.crypto.keystore import KeyStore
from authsvc.errors import NotFound, ValidationFailed
from authsvc.pki.der import BadEncoding, decode_binary
from authsvc.pki.service import CmsReport, SignerReport, Verifier
from authsvc.store import challenges, evidence, identifications, steps
from authsvc.store import clients as client_store
from authsvc.store.db import Database, Tx

__all__ = [
    "ClientIdentity",
    "EdsMethod",
    "EdsOutcome",
    "IssuedChallenge",
    "client_identity",
    "holder_reasons",
]

METHOD = "eds"
EVIDENCE_KIND = "eds_cms"


@dataclass(frozen=True)
class IssuedChallenge:
    id: str
    data: bytes  # what the client signs
    expires_at: datetime


@dataclass(frozen=True)
class ClientIdentity:
    """The numbers a certificate must carry for this client (decrypted for the comparison only)."""

    kind: Literal["individual", "legal_entity"]
    iin: str
    bin: str | None
    test_pki: bool


@dataclass(frozen=True)
class EdsOutcome:
    outcome: Literal["passed", "failed"]
    reasons: list[str]
    details: dict[str, Any]


async def client_identity(tx: Tx, keys: KeyStore, lender_id: str, client_id: str) -> ClientIdentity:
    row = await client_store.get(tx, lender_id, client_id)
    if row is None:
        raise NotFound("no such client", code=error_codes.CLIENT_NOT_FOUND)
    cipher = await RecordCipher.aopen(keys, row.id, WrappedKey(row.kek_id, row.data_key))
    pii = cipher.unseal_json(PII, row.pii_sealed)
    if row.kind == "legal_entity":
        return ClientIdentity("legal_entity", pii["representative"]["iin"], pii["bin"], row.test_pki)
    return ClientIdentity("individual", pii["iin"], None, row.test_pki)


def holder_reasons(signer: SignerReport, client: ClientIdentity, allowed_roles: list[str]) -> list[str]:
    """Why this signer is not the client (empty when it is). R-7.1: the IIN identifies the person."""
    cert = signer.certificate
    if cert is None:
        return ["signer_certificate_missing"]
    reasons = []
    if cert.subject.iin != client.iin:
        reasons.append("iin_mismatch")
    if client.kind == "individual":
        if cert.subject_type == "legal_entity" or cert.subject.bin is not None:
            reasons.append("legal_entity_certificate")
    else:
        if cert.subject.bin != client.bin:
            reasons.append("bin_mismatch")
        if not set(cert.roles) & set(allowed_roles):
            reasons.append("role_not_allowed")
    return reasons


def _signer_details(signer: SignerReport) -> dict[str, Any]:
    """Step details: the certificate and its checks, without the holder's name or numbers."""
    cert = signer.certificate
    details: dict[str, Any] = {"signature_algorithm": signer.signature_algorithm}
    if cert is not None:
        details |= {
            "certificate_serial": cert.serial_number,
            "issuer": cert.issuer.common_name,
            "not_after": cert.not_after.isoformat(),
            "subject_type": cert.subject_type,
            "roles": cert.roles,
            "identification_method": cert.identification_method,
        }
    if signer.revocations:
        last = signer.revocations[-1]
        details["revocation"] = {
            "status": last.status,
            "source": last.source,
            "checked_at": last.checked_at.isoformat(),
        }
    return details


class EdsMethod:
    """The EDS step over what it uses: the database, the service's keys and the PKI verifier."""

    def __init__(self, db: Database, keys: KeyStore, verifier: Verifier, pki: PkiSettings) -> None:
        self.db, self.keys, self.verifier, self.pki = db, keys, verifier, pki

    async def issue_challenge(self, ident: identifications.Identification) -> IssuedChallenge:
        """A challenge for ``ident`` (open: the flow checked it)."""
        async with self.db.transaction() as tx:
            issued = await challenges.issue(
                tx,
                self.keys,
                ident.id,
                METHOD,
                ttl_s=self.pki.challenge_ttl_s,
                payload={
                    "lender_id": ident.lender_id,
                    "client_id": ident.client_id,
                    "operation": ident.operation.value,
                },
            )
        assert issued.nonce is not None
        return IssuedChallenge(issued.id, issued.nonce, issued.expires_at)

    async def submit(
        self, ident: identifications.Identification, cms: str, data: str | None, records: steps.StepRecords
    ) -> EdsOutcome:
        """Judge one EDS submission for ``ident`` (open: the flow checked it) and write ``records(passed,
        details)`` with the challenge's use; raises only for unreadable input."""
        lender_id = ident.lender_id
        der = decode_der(cms, "CMS signature")
        content = decode_b64(data, "signed data") if data is not None else None
        async with self.db.autocommit() as tx:
            client = await client_identity(tx, self.keys, lender_id, ident.client_id)
        report: CmsReport = await self.verifier.verify_cms(der, content=content)
        reasons: list[str] = list(report.reasons)
        details: dict[str, Any] = {"test_pki": client.test_pki}
        if len(report.signers) != 1:
            reasons.append("one_signer_required")
        signer = report.signers[0] if report.signers else None
        if signer is not None:
            reasons.extend(signer.reasons)
            reasons.extend(holder_reasons(signer, client, self.pki.legal_entity_roles))
            details |= _signer_details(signer)

        challenge = None
        async with self.db.autocommit() as tx:
            if report.content:
                challenge = await challenges.find_by_nonce(tx, self.keys, report.content)
        replay: list[str] = []
        if challenge is None or challenge.method != METHOD:
            reasons.append("challenge_unknown")
        elif challenge.identification_id != ident.id:
            reasons.append("challenge_mismatch")

        digest = hashlib.sha256(der).digest()
        async with self.db.autocommit() as tx:  # claimed at once: a concurrent twin sees it
            if not await evidence.claim(tx, EVIDENCE_KIND, digest, ident.id):
                replay.append("evidence_reused")
        async with self.db.transaction() as tx:
            ours = challenge is not None and challenge.identification_id == ident.id and challenge.method == METHOD
            if challenge is not None and ours and not await challenges.use(tx, challenge.id):
                replay.append("challenge_expired" if challenge.used_at is None else "challenge_used")
            reasons = list(dict.fromkeys([*replay, *reasons]))
            outcome: Literal["passed", "failed"] = "failed" if reasons else "passed"
            details |= {"reasons": reasons, "cms_sha256": digest.hex()}
            await tx.write(await records(outcome == "passed", details))
        return EdsOutcome(outcome, reasons, details)


def encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def decode_der(value: str, what: str) -> bytes:
    """A CMS or certificate as sent in JSON (base64 of DER, or PEM); 422 ``bad_encoding`` if it is neither."""
    try:
        return decode_binary(value, what=what)
    except BadEncoding as exc:
        raise ValidationFailed(exc.detail, code=error_codes.BAD_ENCODING) from exc


def decode_b64(value: str, what: str) -> bytes:
    """Plain base64 data (a document, a challenge); 422 ``bad_base64`` if it is not."""
    try:
        return base64.b64decode("".join(value.split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValidationFailed(f"{what} is not valid base64", code=error_codes.BAD_BASE64) from exc
