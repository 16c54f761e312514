"""PKCS#12 keystores handed to test users. RSA: pyca/cryptography with PBES2/AES-256. GOST: pyca
cannot write GOST keys, so the file is assembled here in the legacy layout NCA's own keystores use
(KZ-PKI.md §2): a 3DES-SHA1 shrouded key bag and a SHA-1 MAC; the certificate bag is 3DES-encrypted
too, not RC2-40 (RC2 is unavailable in pyca, and readers that open NCA files open this as well)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Final

from asn1crypto import algos, cms, core, keys, pkcs12, x509
from cryptography import x509 as pyca_x509
from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives import padding, serialization
from cryptography.hazmat.primitives.ciphers import Cipher, modes
from cryptography.hazmat.primitives.serialization import pkcs12 as pyca_pkcs12

from simulators.nca.pki import Issued

DEFAULT_PASSWORD: Final = "Qwerty12"  # the password of NCA's own test keystores
_ITERATIONS: Final = 2048
_PBE_3DES: Final = "1.2.840.113549.1.12.1.3"  # pbeWithSHAAnd3-KeyTripleDES-CBC


def keystore(issued: Issued, password: str) -> bytes:
    """A .p12 with the holder's key and certificate, protected by `password`."""
    if not password:
        raise ValueError("a keystore password is required")
    friendly = f"{issued.serial:x}".encode()
    if issued.family == "rsa":
        key = serialization.load_der_private_key(issued.private_key, password=None)
        cert = pyca_x509.load_der_x509_certificate(issued.certificate.dump())
        return pyca_pkcs12.serialize_key_and_certificates(
            friendly,
            key,  # type: ignore[arg-type]
            cert,
            None,
            serialization.BestAvailableEncryption(password.encode()),
        )
    return legacy_pkcs12(issued.private_key, issued.certificate, password, friendly_name=friendly.decode())


def pkcs12_kdf(password: str, salt: bytes, iterations: int, purpose: int, size: int) -> bytes:
    """RFC 7292 appendix B.2 key derivation with SHA-1 (purpose 1 key, 2 IV, 3 MAC key)."""
    v = 64  # SHA-1 block size; its output size u = 20 shows up as the digest length
    pw = (password.encode("utf-16-be") + b"\x00\x00") if password else b""
    d = bytes([purpose]) * v

    def stretch(data: bytes) -> bytes:
        if not data:
            return b""
        length = v * ((len(data) + v - 1) // v)
        return (data * (length // len(data) + 1))[:length]

    i = bytearray(stretch(salt) + stretch(pw))
    out = b""
    while len(out) < size:
        a = d + bytes(i)
        for _ in range(iterations):
            a = hashlib.sha1(a).digest()
        out += a
        b = int.from_bytes(stretch(a)[:v], "big") + 1
        for j in range(0, len(i), v):
            block = (int.from_bytes(i[j : j + v], "big") + b) % (1 << (8 * v))
            i[j : j + v] = block.to_bytes(v, "big")
    return out[:size]


def _pbe_3des(password: str, data: bytes) -> tuple[algos.EncryptionAlgorithm, bytes]:
    salt = secrets.token_bytes(8)
    key = pkcs12_kdf(password, salt, _ITERATIONS, 1, 24)
    iv = pkcs12_kdf(password, salt, _ITERATIONS, 2, 8)
    padder = padding.PKCS7(64).padder()
    padded = padder.update(data) + padder.finalize()
    encryptor = Cipher(TripleDES(key), modes.CBC(iv)).encryptor()
    ciphertext = encryptor.update(padded) + encryptor.finalize()
    params = algos.Pbes1Params({"salt": salt, "iterations": _ITERATIONS})
    return algos.EncryptionAlgorithm({"algorithm": _PBE_3DES, "parameters": params}), ciphertext


def legacy_pkcs12(pkcs8_der: bytes, certificate: x509.Certificate, password: str, *, friendly_name: str) -> bytes:
    """PKCS#12 in the legacy PBE layout for a key pyca cannot serialise (GOST)."""
    local_key_id = hashlib.sha1(certificate.dump()).digest()
    attributes = pkcs12.Attributes(
        [
            {"type": "friendly_name", "values": [friendly_name]},
            {"type": "local_key_id", "values": [local_key_id]},
        ]
    )
    algorithm, encrypted_key = _pbe_3des(password, pkcs8_der)
    key_bag = pkcs12.SafeBag(
        {
            "bag_id": "pkcs8_shrouded_key_bag",
            "bag_value": keys.EncryptedPrivateKeyInfo(
                {"encryption_algorithm": algorithm, "encrypted_data": encrypted_key}
            ),
            "bag_attributes": attributes,
        }
    )
    cert_bag = pkcs12.SafeBag(
        {
            "bag_id": "cert_bag",
            "bag_value": pkcs12.CertBag(
                {"cert_id": "x509", "cert_value": core.ParsableOctetString(certificate.dump())}
            ),
            "bag_attributes": attributes,
        }
    )
    cert_algorithm, encrypted_certs = _pbe_3des(password, pkcs12.SafeContents([cert_bag]).dump())
    encrypted_data = cms.EncryptedData(
        {
            "version": "v0",
            "encrypted_content_info": {
                "content_type": "data",
                "content_encryption_algorithm": cert_algorithm,
                "encrypted_content": encrypted_certs,
            },
        }
    )
    safe = pkcs12.AuthenticatedSafe(
        [
            cms.ContentInfo({"content_type": "encrypted_data", "content": encrypted_data}),
            cms.ContentInfo({"content_type": "data", "content": pkcs12.SafeContents([key_bag]).dump()}),
        ]
    )
    auth_safe_der = safe.dump()
    mac_salt = secrets.token_bytes(8)
    mac_key = pkcs12_kdf(password, mac_salt, _ITERATIONS, 3, 20)
    mac = hmac.new(mac_key, auth_safe_der, hashlib.sha1).digest()
    pfx = pkcs12.Pfx(
        {
            "version": "v3",
            "auth_safe": {"content_type": "data", "content": auth_safe_der},
            "mac_data": {
                "mac": {"digest_algorithm": {"algorithm": "sha1"}, "digest": mac},
                "mac_salt": mac_salt,
                "iterations": _ITERATIONS,
            },
        }
    )
    return bytes(pfx.dump())
