"""RFC 6960 OCSP responder behaving like NCA's (KZ-PKI.md §3): a delegated responder certificate,
responder named by its Name, the nonce echoed, no nextUpdate by default, and a certificate it does
not know answered as revoked / certificateHold / 1970-01-01."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from asn1crypto import core, ocsp

from simulators.nca import certs, keys
from simulators.nca.ca import CaFamily
from simulators.nca.pki import Pki

UNKNOWN_REVOCATION_TIME = datetime(1970, 1, 1, tzinfo=UTC)


def _error(status: str) -> bytes:
    return bytes(ocsp.OCSPResponse({"response_status": status}).dump())


def _issuer_matches(fam: CaFamily, cert_id: ocsp.CertId) -> bool:
    algorithm = cert_id["hash_algorithm"]["algorithm"].dotted
    inter = fam.intermediate.certificate
    try:
        name_hash = keys.digest_by_oid(algorithm, inter.subject.dump())
        key_hash = keys.digest_by_oid(algorithm, certs.public_key_bits(inter.public_key))
    except ValueError:
        return False
    return bool(name_hash == cert_id["issuer_name_hash"].native and key_hash == cert_id["issuer_key_hash"].native)


def _status(pki: Pki, fam: CaFamily, serial: int) -> ocsp.CertStatus:
    issued = pki.issued.get(serial)
    if issued is None or issued.family != fam.family:
        revoked = {"revocation_time": UNKNOWN_REVOCATION_TIME, "revocation_reason": "certificate_hold"}
        return ocsp.CertStatus(name="revoked", value=revoked)
    if issued.revocation is None:
        return ocsp.CertStatus(name="good", value=core.Null())
    rev = issued.revocation
    value = {"revocation_time": rev.revoked_at, "revocation_reason": rev.reason}
    return ocsp.CertStatus(name="revoked", value=value)


def respond(pki: Pki, request_der: bytes, *, next_update: timedelta | None = None) -> bytes:
    """DER OCSPResponse for a DER OCSPRequest; protocol errors become OCSP error statuses."""
    try:
        request = ocsp.OCSPRequest.load(request_der)
        tbs = request["tbs_request"]
        items = list(tbs["request_list"])
        cert_ids = [item["req_cert"] for item in items]
        serials = [int(cid["serial_number"].native) for cid in cert_ids]
        nonce = None
        for ext in tbs["request_extensions"] or []:
            if ext["extn_id"].native == "nonce":
                nonce = ext["extn_value"].parsed.native
    except (ValueError, TypeError, KeyError):
        return _error("malformed_request")
    if not items:
        return _error("malformed_request")
    family = next((f for f in pki.families.values() if _issuer_matches(f, cert_ids[0])), None)
    # One response is signed by one CA's delegated responder: every CertID must name that CA.
    if family is None or not all(_issuer_matches(family, cid) for cid in cert_ids[1:]):
        return _error("unauthorized")
    now = pki.clock()
    singles = []
    for cid, serial in zip(cert_ids, serials, strict=True):
        single: dict[str, object] = {
            "cert_id": cid,
            "cert_status": _status(pki, family, serial),
            "this_update": now,
        }
        if next_update is not None:
            single["next_update"] = now + next_update
        singles.append(single)
    data: dict[str, object] = {
        "responder_id": ocsp.ResponderId(name="by_name", value=family.ocsp.name),
        "produced_at": now,
        "responses": singles,
    }
    if nonce is not None:
        data["response_extensions"] = [{"extn_id": "nonce", "critical": False, "extn_value": nonce}]
    response_data = ocsp.ResponseData(data)
    signer = family.ocsp.signer
    basic = ocsp.BasicOCSPResponse(
        {
            "tbs_response_data": response_data,
            "signature_algorithm": signer.signature_algorithm(),
            "signature": signer.sign(response_data.dump()),
            "certs": [family.ocsp.certificate],
        }
    )
    response = ocsp.OCSPResponse(
        {
            "response_status": "successful",
            "response_bytes": {"response_type": "basic_ocsp_response", "response": basic},
        }
    )
    return bytes(response.dump())
