"""Key pairs behind one `Signer` protocol, so every structure (certificate, CRL, OCSP, TSP, CMS) is
signed the same way whatever the family: RSA-2048 through pyca/cryptography, GOST-2015-512 through
the project's own pure-crypto module `authsvc.pki.gost` (the only `authsvc` import simulators allow)."""

from __future__ import annotations

import hashlib
from typing import Protocol

from asn1crypto import algos, core, keys
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from authsvc.pki import gost
from simulators.nca import oids
from simulators.nca.gost_keys import GostSigner
from simulators.nca.oids import Family


class Signer(Protocol):
    """A private key able to sign, with the algorithm identifiers that go next to its signatures."""

    @property
    def family(self) -> Family: ...

    def public_key_info(self) -> keys.PublicKeyInfo: ...

    def signature_algorithm(self) -> algos.SignedDigestAlgorithm:
        """The AlgorithmIdentifier next to the signature (certificates, CRLs, OCSP, CMS SignerInfo)."""
        ...

    def digest_algorithm(self) -> algos.DigestAlgorithm: ...

    def digest(self, data: bytes) -> bytes: ...

    def sign(self, data: bytes) -> bytes:
        """Sign `data` (hashing it with the family's digest)."""
        ...

    def private_key_pkcs8(self) -> bytes:
        """The private key as unencrypted PKCS#8 DER (for the simulator's state and for keystores)."""
        ...


class RsaSigner:
    """RSA-2048 with sha256WithRSAEncryption (NCA's RSA test CAs)."""

    family: Family = "rsa"

    def __init__(self, key: rsa.RSAPrivateKey) -> None:
        self.key = key

    @classmethod
    def generate(cls) -> RsaSigner:
        return cls(rsa.generate_private_key(public_exponent=65537, key_size=2048))

    @classmethod
    def from_pkcs8(cls, der: bytes) -> RsaSigner:
        key = serialization.load_der_private_key(der, password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError("PKCS#8 key is not an RSA key")
        return cls(key)

    def public_key_info(self) -> keys.PublicKeyInfo:
        der = self.key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return keys.PublicKeyInfo.load(der)

    def signature_algorithm(self) -> algos.SignedDigestAlgorithm:
        return algos.SignedDigestAlgorithm({"algorithm": "sha256_rsa", "parameters": core.Null()})

    def digest_algorithm(self) -> algos.DigestAlgorithm:
        return algos.DigestAlgorithm({"algorithm": "sha256", "parameters": core.Null()})

    def digest(self, data: bytes) -> bytes:
        return hashlib.sha256(data).digest()

    def sign(self, data: bytes) -> bytes:
        return self.key.sign(data, padding.PKCS1v15(), hashes.SHA256())

    def private_key_pkcs8(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )


def generate(family: Family) -> Signer:
    """A fresh key pair of the family."""
    if family == "rsa":
        return RsaSigner.generate()
    return GostSigner.generate()


def load(family: Family, pkcs8_der: bytes) -> Signer:
    """A key pair back from its PKCS#8 DER."""
    if family == "rsa":
        return RsaSigner.from_pkcs8(pkcs8_der)
    return GostSigner.from_pkcs8(pkcs8_der)


def digest_by_oid(oid: str, data: bytes) -> bytes:
    """Digest for an algorithm met in a request (TSA imprints, OCSP CertIDs)."""
    named = {"1.3.14.3.2.26": "sha1", oids.SHA256: "sha256", "2.16.840.1.101.3.4.2.3": "sha512"}
    if oid in named:
        return hashlib.new(named[oid], data).digest()
    if gost.is_gost_digest_oid(oid):  # Streebog, GOST 34.311-95, tc26 aliases
        return bytes(gost.digest(oid, data))
    raise ValueError(f"unsupported digest algorithm {oid}")
