"""Build small test hierarchies (RSA, ECDSA or Kazakh GOST keys) with asn1crypto; test helper only."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from asn1crypto import keys, x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from authsvc.pki import gost

Signer = Callable[[bytes], bytes]


@dataclass
class Issued:
    cert: x509.Certificate
    spki: bytes
    sign: Signer
    sig_oid: str


def rsa_key() -> tuple[bytes, Signer, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    spki = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return spki, lambda data: key.sign(data, padding.PKCS1v15(), hashes.SHA256()), "1.2.840.113549.1.1.11"


def ec_key() -> tuple[bytes, Signer, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    spki = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return spki, lambda data: key.sign(data, ec.ECDSA(hashes.SHA256())), "1.2.840.10045.4.3.2"


def gost_key() -> tuple[bytes, Signer, str]:
    key = gost.generate_private_key("kz-gost2015-512")
    spki = gost.public_key_info_der(key.public_key(), "kz-gost2015-512")
    sig_oid = "1.2.398.3.10.1.1.2.3.2"
    return spki, lambda data: gost.sign(key, sig_oid, data), sig_oid


def issue(
    subject_cn: str,
    key: tuple[bytes, Signer, str],
    issuer: Issued | None = None,
    *,
    ca: bool = False,
    serial: int = 1,
    key_usage: frozenset[str] = frozenset({"digital_signature", "non_repudiation"}),
    not_before: datetime | None = None,
    days: int = 30,
    ca_issuers_url: str | None = None,
) -> Issued:
    """A certificate for ``key`` signed by ``issuer`` (self-signed when None)."""
    spki, sign, sig_oid = key
    name = x509.Name.build({"common_name": subject_cn, "country_name": "KZ"})
    start = not_before or datetime.now(UTC) - timedelta(days=1)
    signer_sign, signer_oid = (sign, sig_oid) if issuer is None else (issuer.sign, issuer.sig_oid)
    extensions = [
        {"extn_id": "key_usage", "critical": True,
         "extn_value": x509.KeyUsage(set({"key_cert_sign", "crl_sign"} if ca else key_usage))},
        {"extn_id": "basic_constraints", "critical": True, "extn_value": {"ca": ca}},
    ]  # fmt: skip
    if ca_issuers_url:
        extensions.append(
            {"extn_id": "authority_information_access", "critical": False,
             "extn_value": [{"access_method": "ca_issuers",
                             "access_location": x509.GeneralName("uniform_resource_identifier", ca_issuers_url)}]}
        )  # fmt: skip
    tbs = x509.TbsCertificate(
        {
            "version": "v3",
            "serial_number": serial,
            "signature": {"algorithm": signer_oid},
            "issuer": name if issuer is None else issuer.cert.subject,
            "validity": {"not_before": x509.Time({"utc_time": start}),
                         "not_after": x509.Time({"utc_time": start + timedelta(days=days)})},
            "subject": name,
            "subject_public_key_info": keys.PublicKeyInfo.load(spki),
            "extensions": extensions,
        }
    )  # fmt: skip
    tbs_der = tbs.dump()
    cert = x509.Certificate(
        {
            "tbs_certificate": tbs,
            "signature_algorithm": {"algorithm": signer_oid},
            "signature_value": signer_sign(tbs_der),
        }
    )
    return Issued(x509.Certificate.load(cert.dump()), spki, sign, sig_oid)
