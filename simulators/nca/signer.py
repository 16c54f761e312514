"""Client-side signing, as NCALayer's `createCMSSignatureFromBase64` does it, for tests and the demo:
CMS SignedData (attached or detached) with contentType, signingTime, messageDigest and
signingCertificateV2, optionally time-stamped by a TSA (signature time-stamp, RFC 3161 appendix A);
and enveloped XMLDSig (see `simulators.nca.xmldsig`). Works with GOST-2015-512 and RSA keys."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import aiohttp
from asn1crypto import algos, cms, core, tsp, x509
from cryptography import x509 as pyca_x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12 as pyca_pkcs12

from authsvc.pki import gost
from simulators.nca import certs, keys, tsa
from simulators.nca import cms as cms_build
from simulators.nca.gost_keys import GostSigner
from simulators.nca.keys import Signer
from simulators.nca.oids import Family
from simulators.nca.xmldsig import sign_xml

__all__ = [
    "KeyPair",
    "attach_timestamp",
    "create_cms_signature_from_base64",
    "sign_cms",
    "sign_cms_timestamped",
    "sign_xml",
    "timestamp_request",
]


@dataclass(frozen=True)
class KeyPair:
    """A holder's key and certificate, e.g. from /admin/issue (certificate DER + PKCS#8)."""

    signer: Signer
    certificate: x509.Certificate

    @classmethod
    def from_der(cls, certificate_der: bytes, pkcs8_der: bytes) -> KeyPair:
        cert = x509.Certificate.load(certificate_der)
        rsa_key = certs.public_key_algorithm(cert.public_key) == "1.2.840.113549.1.1.1"
        family: Family = "rsa" if rsa_key else "gost2015"
        return cls(keys.load(family, pkcs8_der), cert)

    @classmethod
    def from_pem(cls, certificate_pem: str, private_key_pem: str) -> KeyPair:
        cert = pyca_x509.load_pem_x509_certificate(certificate_pem.encode())
        der_key = _pem_body(private_key_pem)
        return cls.from_der(cert.public_bytes(serialization.Encoding.DER), der_key)

    @classmethod
    def from_pkcs12(cls, data: bytes, password: str) -> KeyPair:
        """A keystore from this simulator or from NCA: RSA through pyca/cryptography, GOST (which
        pyca cannot open) through `authsvc.pki.gost.load_nca_pkcs12`."""
        try:
            key, cert, _ = pyca_pkcs12.load_key_and_certificates(data, password.encode())
        except ValueError:
            gost_key, cert_ders = gost.load_nca_pkcs12(data, password)
            if gost_key is None or not cert_ders:
                raise ValueError("keystore holds no key and certificate") from None
            signer = GostSigner(gost_key)
            spki = signer.public_key_info().dump()
            for der in cert_ders:
                cert_obj = x509.Certificate.load(der)
                if cert_obj.public_key.dump() == spki:
                    return cls(signer, cert_obj)
            raise ValueError("no certificate in the keystore matches its key") from None
        if key is None or cert is None:
            raise ValueError("keystore holds no key and certificate")
        pkcs8 = key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        return cls.from_der(cert.public_bytes(serialization.Encoding.DER), pkcs8)


def _pem_body(pem: str) -> bytes:
    lines = [ln for ln in pem.strip().splitlines() if not ln.startswith("-----")]
    return base64.b64decode("".join(lines))


def sign_cms(
    pair: KeyPair,
    content: bytes,
    *,
    detached: bool = False,
    signing_time: datetime | None = None,
    with_signing_certificate: bool = True,
    chain: Sequence[x509.Certificate] = (),
) -> bytes:
    """DER CMS SignedData over `content`, like NCALayer (signer certificate included)."""
    info = cms_build.build_signed_data(
        pair.signer,
        pair.certificate,
        content=content,
        detached=detached,
        signing_time=signing_time or datetime.now(UTC),
        with_signing_certificate=with_signing_certificate,
        certificates=chain,
    )
    return bytes(info.dump())


def create_cms_signature_from_base64(pair: KeyPair, data_b64: str, *, attached: bool = True) -> str:
    """NCALayer's `createCMSSignatureFromBase64(storage, keyType, base64Data, attached)`, minus the
    storage dialog: base64 in, base64 DER CMS out."""
    content = base64.b64decode(data_b64, validate=True)
    return base64.b64encode(sign_cms(pair, content, detached=not attached)).decode("ascii")


def timestamp_request(
    data: bytes, digest_algorithm: algos.DigestAlgorithm, *, nonce: int | None = None, policy: str | None = None
) -> bytes:
    """DER TimeStampReq over `data` (certReq true so the token carries the TSA certificate)."""
    request: dict[str, object] = {
        "version": "v1",
        "message_imprint": {
            "hash_algorithm": digest_algorithm,
            "hashed_message": keys.digest_by_oid(digest_algorithm["algorithm"].dotted, data),
        },
        "nonce": nonce if nonce is not None else secrets.randbits(63),
        "cert_req": True,
    }
    if policy is not None:
        request["req_policy"] = policy
    return bytes(tsp.TimeStampReq(request).dump())


def attach_timestamp(cms_der: bytes, token: cms.ContentInfo) -> bytes:
    """Add a signature time-stamp token (id-aa-signatureTimeStampToken) to the first signer.
    The SignerInfo is rebuilt from its parsed parts so the signed attributes keep their bytes."""
    info = cms.ContentInfo.load(cms_der)
    signed = info["content"]
    old = signed["signer_infos"][0]
    fields = {name: old[name] for name, _spec, *_ in cms.SignerInfo._fields if name != "unsigned_attrs"}
    fields = {k: v for k, v in fields.items() if not isinstance(v, core.Void)}
    fields["unsigned_attrs"] = cms.CMSAttributes([{"type": "signature_time_stamp_token", "values": [token]}])
    new_signed = {name: signed[name] for name, _spec, *_ in cms.SignedData._fields}
    new_signed = {k: v for k, v in new_signed.items() if not isinstance(v, core.Void)}
    new_signed["signer_infos"] = [cms.SignerInfo(fields)]
    return bytes(cms.ContentInfo({"content_type": "signed_data", "content": cms.SignedData(new_signed)}).dump())


async def sign_cms_timestamped(
    session: aiohttp.ClientSession,
    tsa_url: str,
    pair: KeyPair,
    content: bytes,
    *,
    detached: bool = False,
    signing_time: datetime | None = None,
) -> bytes:
    """`sign_cms`, then a time stamp on the signature value from the TSA at `tsa_url`."""
    der = sign_cms(pair, content, detached=detached, signing_time=signing_time)
    signature = cms.ContentInfo.load(der)["content"]["signer_infos"][0]["signature"].native
    request = timestamp_request(signature, pair.signer.digest_algorithm())
    headers = {"Content-Type": "application/timestamp-query"}
    async with session.post(tsa_url, data=request, headers=headers) as response:
        response.raise_for_status()
        reply = await response.read()
    return attach_timestamp(der, tsa.token_of(reply))
