"""Loan contracts: register the document, sign it (EDS or one-time code, R-10.1), re-check it (R-12.1).

The document (or only its SHA-256), the hash and every signature with its validation data are sealed under
the contract's own data key (R-12.2). A signature is accepted only from the client the contract belongs
to (IIN, and BIN + role for a legal entity, as in the EDS step) with a signing key (nonRepudiation), and a
CMS can sign one contract once (R-12.3). ``report`` re-verifies everything from what is stored — document
hash, CMS at its signing moment, stored OCSP evidence — without the network.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from asn1crypto import x509

from authsvc import error_codes
from authsvc.audit import records as audit
from authsvc.audit.events import AuditEvent
from authsvc.config import PkiSettings
from authsvc.contracts.evidence import EdsEvidence, evidence_of, recheck_ocsp
from authsvc.crypto.envelope import RecordCipher, WrappedKey
from authsvc.crypto.keystore import KeyStore
from authsvc.errors import AuthsvcError, Conflict, NotFound, RecordTampered, ValidationFailed
from authsvc.methods import otp
from authsvc.methods.eds import client_identity, holder_reasons
from authsvc.methods.factors import Factors
from authsvc.pki.crl_archive import recheck_crl
from authsvc.pki.service import Verifier
from authsvc.store import contracts as store
from authsvc.store import evidence, identifications
from authsvc.store import incidents as incident_store
from authsvc.store.db import Database

__all__ = ["Contract", "ContractService", "Demand", "Demands", "SignatureCheck"]

CONTRACT_FIELD = "contract"
SIGNING_KEY_USAGE = ("digital_signature", "non_repudiation")
IDENTIFICATION_MAX_AGE_S = 3600  # a loan_contract identification signs within the hour it completed


@dataclass(frozen=True)
class Contract:
    row: store.ContractRow
    cipher: RecordCipher
    document: bytes | None
    sha256: bytes
    title: str | None


@dataclass(frozen=True)
class Demand:
    """A lender's regulatory profile demanding a completed, unused loan_contract identification before a
    contract is signed (data: the profile's ``[operations.loan_contract.required]``)."""

    profile: str
    accepted: frozenset[str]  # the profiles whose identifications meet it: itself and those built on it
    requirement: str
    label: str


# The lender's demand, if its loan_contract profile makes one (the identification flow answers it).
Demands = Callable[[str], Demand | None]


@dataclass(frozen=True)
class SignatureCheck:
    id: str
    method: str
    signed_at: datetime
    valid: bool
    reasons: list[str]
    details: dict[str, Any]


def _seal(cipher: RecordCipher, document: bytes | None, sha256: bytes, title: str | None) -> bytes:
    body = {
        "document": base64.b64encode(document).decode() if document is not None else None,
        "sha256": sha256.hex(),
        "title": title,
    }
    return cipher.seal_json(CONTRACT_FIELD, body)


def _signature_field(signature_id: str) -> str:
    return f"signature:{signature_id}"


class ContractService:
    """Contracts and their signatures over what they use: the database, the service's keys, the PKI
    verifier (EDS signatures and their re-checks) and the second factors (one-time codes)."""

    def __init__(
        self,
        db: Database,
        keys: KeyStore,
        verifier: Verifier,
        factors: Factors,
        pki: PkiSettings,
        demands: Demands | None = None,
    ) -> None:
        self.db, self.keys, self.verifier, self.factors, self.pki = db, keys, verifier, factors, pki
        self.demands = demands

    async def create(
        self, lender_id: str, client_id: str, document: bytes | None, sha256: bytes | None, title: str | None
    ) -> Contract:
        if document is None and sha256 is None:
            raise ValidationFailed("give the document or its SHA-256", code=error_codes.DOCUMENT_REQUIRED)
        digest = hashlib.sha256(document).digest() if document is not None else sha256
        assert digest is not None
        if sha256 is not None and not hmac.compare_digest(sha256, digest):
            raise ValidationFailed("sha256 is not the SHA-256 of the document", code=error_codes.DOCUMENT_MISMATCH)
        contract_id = str(uuid.uuid4())
        cipher, wrapped = await RecordCipher.anew(self.keys, contract_id)
        now = datetime.now(UTC)
        row = store.ContractRow(
            contract_id,
            lender_id,
            client_id,
            wrapped.kek_id,
            wrapped.wrapped,
            _seal(cipher, document, digest, title),
            document is not None,
            "unsigned",
            now,
            now,
        )
        async with self.db.transaction() as tx:
            await client_identity(tx, self.keys, lender_id, client_id)  # 404 for another lender's client
            await store.insert(tx, row)
            await audit.append(
                tx,
                self.keys,
                AuditEvent.CONTRACT_CREATED,
                lender_id=lender_id,
                subject=contract_id,
                details={"client_id": client_id, "with_document": document is not None},
            )
        return Contract(row, cipher, document, digest, title)

    async def _open(self, row: store.ContractRow) -> Contract:
        cipher = await RecordCipher.aopen(self.keys, row.id, WrappedKey(row.kek_id, row.data_key))
        body = cipher.unseal_json(CONTRACT_FIELD, row.sealed)
        document = base64.b64decode(body["document"]) if body["document"] is not None else None
        return Contract(row, cipher, document, bytes.fromhex(body["sha256"]), body.get("title"))

    async def open_contract(self, lender_id: str, contract_id: str) -> Contract:
        async with self.db.autocommit() as tx:
            row = await store.get(tx, lender_id, contract_id[:64])
        if row is None:
            raise NotFound("no such contract", code=error_codes.CONTRACT_NOT_FOUND)
        return await self._open(row)

    async def _usable(self, contract: Contract, ident_id: str | None) -> None:
        """Before the signature is judged: the named loan_contract identification can still be used, and
        one is named when the lender's profile demands it (R-NB.1, R-12.3)."""
        demand = self.demands(contract.row.lender_id) if self.demands is not None else None
        if ident_id is None:
            if demand is not None:
                raise ValidationFailed(
                    f"under {demand.profile} {demand.label} ({demand.requirement}): give identification_id, "
                    "the completed loan_contract identification of the contract's client",
                    code=error_codes.IDENTIFICATION_REQUIRED,
                    profile=demand.profile,
                    requirement=demand.requirement,
                )
            return
        async with self.db.autocommit() as tx:
            ident = await identifications.get(tx, contract.row.lender_id, ident_id[:64])
        if (
            ident is None
            or ident.client_id != contract.row.client_id
            or ident.operation != identifications.Operation.LOAN_CONTRACT
            or ident.status != identifications.Status.COMPLETED
            or ident.consumed_at is not None
        ):
            raise Conflict(
                "identification_id must name a completed, unused loan_contract identification of the contract's "
                "client (R-12.3)",
                code=error_codes.IDENTIFICATION_NOT_USABLE,
            )
        if demand is not None and ident.profile not in demand.accepted:
            raise Conflict(
                f"the identification was completed under {ident.profile}; under {demand.profile} a contract needs "
                f"one completed under {' or '.join(sorted(demand.accepted))} ({demand.requirement})",
                code=error_codes.IDENTIFICATION_NOT_USABLE,
                profile=demand.profile,
                requirement=demand.requirement,
            )

    async def _store_signature(
        self,
        contract: Contract,
        method: str,
        body: dict[str, Any],
        *,
        document: bytes | None = None,
        identification_id: str | None = None,
    ) -> str:
        signature_id = str(uuid.uuid4())
        sealed = contract.cipher.seal_json(_signature_field(signature_id), {"method": method, **body})
        async with self.db.transaction() as tx:
            # The loan_contract identification is used by this signature, once; a twin loses here.
            if identification_id is not None and not await identifications.consume(
                tx,
                lender_id=contract.row.lender_id,
                client_id=contract.row.client_id,
                ident_id=identification_id[:64],
                operation=identifications.Operation.LOAN_CONTRACT,
                max_age_s=IDENTIFICATION_MAX_AGE_S,
            ):
                raise Conflict(
                    "the loan_contract identification was used meanwhile", code=error_codes.IDENTIFICATION_NOT_USABLE
                )
            if document is not None and contract.document is None:
                await store.store_document(
                    tx, contract.row.id, _seal(contract.cipher, document, contract.sha256, contract.title)
                )
            await store.add_signature(
                tx, store.SignatureRow(signature_id, contract.row.id, method, sealed, datetime.now(UTC))
            )
            await audit.append(
                tx,
                self.keys,
                AuditEvent.CONTRACT_SIGNED,
                lender_id=contract.row.lender_id,
                subject=contract.row.id,
                details={"method": method, "signature_id": signature_id, "identification_id": identification_id},
            )
        return signature_id

    async def sign_eds(
        self,
        lender_id: str,
        contract_id: str,
        cms_der: bytes,
        document: bytes | None,
        identification_id: str | None = None,
    ) -> tuple[str, EdsEvidence]:
        """Accept the client's CMS over the document; raises ValidationFailed(signature_rejected) with reasons.
        ``identification_id``: the completed loan_contract identification this signature uses (once)."""
        contract = await self.open_contract(lender_id, contract_id)
        await self._usable(contract, identification_id)
        if document is not None and not hmac.compare_digest(hashlib.sha256(document).digest(), contract.sha256):
            raise ValidationFailed(
                "the document is not the one registered for this contract", code=error_codes.DOCUMENT_MISMATCH
            )
        content = contract.document if contract.document is not None else document
        report = await self.verifier.verify_cms(cms_der, content=content, key_usage=SIGNING_KEY_USAGE)
        if report.detached and content is None:
            raise ValidationFailed(
                "a detached CMS over a hash-only contract needs the document", code=error_codes.DOCUMENT_REQUIRED
            )
        reasons = list(report.reasons)
        if report.content is None or not hmac.compare_digest(hashlib.sha256(report.content).digest(), contract.sha256):
            reasons.append("document_mismatch")
        if len(report.signers) != 1:
            reasons.append("one_signer_required")
        signer = report.signers[0] if report.signers else None
        async with self.db.autocommit() as tx:
            client = await client_identity(tx, self.keys, lender_id, contract.row.client_id)
        if signer is not None:
            reasons += signer.reasons + holder_reasons(signer, client, self.pki.legal_entity_roles)
        if reasons or signer is None:
            async with self.db.transaction() as tx:
                await audit.append(
                    tx,
                    self.keys,
                    AuditEvent.CONTRACT_SIGNATURE_REJECTED,
                    lender_id=lender_id,
                    subject=contract.row.id,
                    details={"method": "eds", "reasons": reasons},
                )
            raise ValidationFailed(
                "the signature was not accepted: " + ", ".join(reasons),
                code=error_codes.SIGNATURE_REJECTED,
                reasons=reasons,
            )
        async with self.db.autocommit() as tx:  # claimed at once: a concurrent twin sees it
            if not await evidence.claim(tx, "contract_cms", hashlib.sha256(cms_der).digest(), contract.row.id):
                raise Conflict("this CMS already signed a contract (R-12.3)", code=error_codes.REPLAY)
        kept = evidence_of(cms_der, report.detached, signer)
        signature_id = await self._store_signature(
            contract, "eds", json.loads(kept.model_dump_json()), document=document, identification_id=identification_id
        )
        return signature_id, kept

    async def send_code(self, lender_id: str, contract_id: str, ip: str | None) -> otp.SentCode:
        """Send the client a one-time code bound to this contract's document hash (R-10.1)."""
        contract = await self.open_contract(lender_id, contract_id)
        factors = self.factors
        async with self.db.transaction() as tx:
            sent = await otp.issue_contract_code(
                tx,
                self.keys,
                factors,
                lender_id=lender_id,
                client_id=contract.row.client_id,
                contract_id=contract.row.id,
                document_sha256=contract.sha256.hex(),
                ip=ip,
            )
        otp.count_issued("sms", "contract")
        factors.outbox_bell.set()
        return sent

    async def sign_otp(
        self, lender_id: str, contract_id: str, code: str, ip: str | None, identification_id: str | None = None
    ) -> str:
        contract = await self.open_contract(lender_id, contract_id)
        await self._usable(contract, identification_id)
        factors = self.factors
        try:
            async with self.db.transaction() as tx:
                check = await otp.verify_contract_code(
                    tx,
                    self.keys,
                    factors,
                    client_id=contract.row.client_id,
                    contract_id=contract.row.id,
                    document_sha256=contract.sha256.hex(),
                    code=code,
                    ip=ip,
                )
        except AuthsvcError as exc:
            otp.count_verification("contract", None, exc)
            raise
        otp.count_verification("contract", check)
        check.raise_for_failure()
        return await self._store_signature(
            contract,
            "otp",
            {"code_id": check.code_id, "document_sha256": contract.sha256.hex()},
            identification_id=identification_id,
        )

    async def _check_eds(self, contract: Contract, kept: EdsEvidence) -> tuple[list[str], dict[str, Any]]:
        verifier = self.verifier
        cms_der = base64.b64decode(kept.cms)
        chain = [base64.b64decode(c) for c in kept.chain]
        report = await verifier.recheck_cms(
            cms_der, content=contract.document, at=kept.validated_at, certificates=chain, key_usage=SIGNING_KEY_USAGE
        )
        reasons = list(report.reasons)
        for signer in report.signers:
            reasons += signer.reasons
        if report.content is None or not hmac.compare_digest(hashlib.sha256(report.content).digest(), contract.sha256):
            reasons.append("document_mismatch")
        checked = []
        for item in kept.revocation:
            if item.source == "ocsp":
                found = await verifier.run(recheck_ocsp, item, chain[0], kept.validated_at)
                checked.append({"source": "ocsp", "status": item.status, "verified_offline": found is None})
                if found is not None:
                    reasons.append(found)
            elif item.source == "crl" and item.crl_sha256 and item.issuer and verifier.crl_dir is not None:
                found = await verifier.run(
                    recheck_crl,
                    str(verifier.crl_dir),
                    item.crl_sha256,
                    item.delta_crl_sha256,
                    base64.b64decode(item.issuer),
                    x509.Certificate.load(chain[0]).serial_number,
                    kept.validated_at,
                )
                checked.append(
                    {
                        "source": "crl",
                        "status": item.status,
                        "verified_offline": found is None,
                        "crl_number": item.crl_number,
                    }
                )
                if found is not None:
                    reasons.append(found)
            else:
                checked.append(
                    {
                        "source": item.source,
                        "status": item.status,
                        "verified_offline": False,
                        "crl_number": item.crl_number,
                    }
                )
                if item.status != "good":
                    reasons.append("revocation_" + item.status)
        details = {
            "validated_at": kept.validated_at.isoformat(),
            "signer_serial": kept.signer_serial,
            "subject_type": kept.signer_subject_type,
            "roles": kept.signer_roles,
            "signature_algorithm": kept.signature_algorithm,
            "revocation": checked,
            "timestamp": kept.timestamp,
        }
        return list(dict.fromkeys(reasons)), details

    async def suspended_by(self, lender_id: str, contract_id: str) -> list[str]:
        """The open incidents that suspend this loan's interest accrual and collection (R-108.2)."""
        async with self.db.autocommit() as tx:
            return list(await incident_store.suspension_of_contract(tx, lender_id, contract_id[:64]))

    async def report(self, lender_id: str, contract_id: str) -> tuple[Contract, bool | None, list[SignatureCheck]]:
        """Re-verify a contract from storage: (contract, document intact (None: hash only), signatures)."""
        async with self.db.autocommit() as tx:
            row = await store.get(tx, lender_id, contract_id[:64])
            if row is None:
                raise NotFound("no such contract", code=error_codes.CONTRACT_NOT_FOUND)
            rows = await store.signatures_of(tx, row.id)
        try:
            contract = await self._open(row)
        except RecordTampered:  # the sealed record fails authentication: it was altered in the database
            raise Conflict("the stored contract fails its integrity check", code=error_codes.CONTRACT_ALTERED) from None
        intact = None
        if contract.document is not None:
            intact = hmac.compare_digest(hashlib.sha256(contract.document).digest(), contract.sha256)
        checks = []
        for sig in rows:
            try:
                body = contract.cipher.unseal_json(_signature_field(sig.id), sig.sealed)
            except RecordTampered:
                checks.append(
                    SignatureCheck(sig.id, sig.method, sig.signed_at, False, ["signature_record_altered"], {})
                )
                continue
            if body["method"] == "eds":
                reasons, details = await self._check_eds(contract, EdsEvidence.model_validate(body))
            else:
                same = hmac.compare_digest(bytes.fromhex(body["document_sha256"]), contract.sha256)
                reasons, details = ([] if same else ["document_mismatch"]), {"code_id": body.get("code_id")}
            if intact is False:
                reasons.append("document_altered")
            checks.append(SignatureCheck(sig.id, sig.method, sig.signed_at, not reasons, reasons, details))
        return contract, intact, checks
