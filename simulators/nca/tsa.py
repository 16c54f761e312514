"""RFC 3161 time-stamping authority. The GOST-2015 TSA uses NCA's policy 1.2.398.3.3.2.6.4 and
accepts SHA-256 and Streebog imprints; an RSA TSA is added so OpenSSL can check replies end to end."""

from __future__ import annotations

import secrets
from typing import ClassVar, Final

from asn1crypto import cms, core, tsp

from simulators.nca import cms as cms_build
from simulators.nca import oids
from simulators.nca.ca import CaFamily
from simulators.nca.pki import Pki

# Imprint algorithms each TSA accepts, with the digest length a request must carry.
_DIGEST_SIZES: Final[dict[str, int]] = {
    "1.3.14.3.2.26": 20,
    oids.SHA256: 32,
    "2.16.840.1.101.3.4.2.3": 64,
    oids.STREEBOG_256: 32,
    oids.STREEBOG_512: 64,
}
ACCEPTED: Final[dict[str, frozenset[str]]] = {
    "gost2015": frozenset({oids.SHA256, oids.STREEBOG_256, oids.STREEBOG_512}),
    "rsa": frozenset({"1.3.14.3.2.26", oids.SHA256, "2.16.840.1.101.3.4.2.3"}),
}


class _RejectionResp(core.Sequence):  # type: ignore[misc]
    """TimeStampResp without its token: RFC 3161 makes timeStampToken OPTIONAL, asn1crypto does not."""

    _fields: ClassVar = [("status", tsp.PKIStatusInfo)]


def _rejection(fail_info: str, text: str) -> bytes:
    status = {"status": "rejection", "status_string": [text], "fail_info": tsp.PKIFailureInfo({fail_info})}
    return bytes(_RejectionResp({"status": status}).dump())


def choose_family(pki: Pki, request: tsp.TimeStampReq, requested: str | None) -> CaFamily | None:
    """The TSA named by reqPolicy, else by the `family` query parameter, else the GOST-2015 one."""
    policy = request["req_policy"]
    if policy.native is not None:
        for fam in pki.families.values():
            if fam.tsa_policy == policy.dotted:
                return fam
        return None
    if requested is not None:
        return next((f for f in pki.families.values() if f.family == requested), None)
    return pki.families["gost2015"]


def respond(pki: Pki, request_der: bytes, *, family: str | None = None) -> bytes:
    """DER TimeStampResp for a DER TimeStampReq; bad requests get a rejection with failInfo."""
    try:
        request = tsp.TimeStampReq.load(request_der)
        imprint = request["message_imprint"]
        algorithm = imprint["hash_algorithm"]["algorithm"].dotted
        hashed = imprint["hashed_message"].native
        nonce = request["nonce"].native
        cert_req = bool(request["cert_req"].native)
        fam = choose_family(pki, request, family)
    except (ValueError, TypeError, KeyError):
        return _rejection("bad_data_format", "malformed TimeStampReq")
    if fam is None:
        return _rejection("unaccepted_policy", "requested policy is not served here")
    if algorithm not in ACCEPTED[fam.family]:
        return _rejection("bad_alg", f"imprint algorithm {algorithm} is not accepted by this TSA")
    if len(hashed) != _DIGEST_SIZES[algorithm]:
        return _rejection("bad_data_format", "imprint length does not match its algorithm")
    now = pki.clock()
    info: dict[str, object] = {
        "version": "v1",
        "policy": fam.tsa_policy,
        "message_imprint": imprint,  # echoed as sent, parameters included
        "serial_number": secrets.randbits(159),
        "gen_time": now,
    }
    if nonce is not None:
        info["nonce"] = nonce
    tst_info = tsp.TSTInfo(info)
    token = cms_build.build_signed_data(
        fam.tsa.signer,
        fam.tsa.certificate,
        content=tst_info.dump(),
        content_type="tst_info",
        signing_time=now,
        include_signer_certificate=cert_req,
    )
    response = tsp.TimeStampResp({"status": {"status": "granted"}, "time_stamp_token": token})
    return bytes(response.dump())


def token_of(response_der: bytes) -> cms.ContentInfo:
    """The TimeStampToken of a granted reply; ValueError with the TSA's text otherwise."""
    response = tsp.TimeStampResp.load(response_der)
    status = response["status"]
    if status["status"].native not in ("granted", "granted_with_mods"):
        raise ValueError(f"time stamp refused: {status['status_string'].native}")
    token: cms.ContentInfo = response["time_stamp_token"]
    return token
