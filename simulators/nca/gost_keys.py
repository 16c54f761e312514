"""GOST-2015-512 key pairs for the simulator, on top of the project's pure-crypto `authsvc.pki.gost`
(Kazakh SPKI, r‖s little-endian signatures, Streebog-512; KZ-PKI.md §2)."""

from __future__ import annotations

from typing import ClassVar, Final

from asn1crypto import algos, core, keys

from authsvc.pki import gost
from simulators.nca import oids
from simulators.nca.oids import Family

PROFILE: Final = "kz-gost2015-512"


class _PrivateKeyInfo(core.Sequence):  # type: ignore[misc]
    _fields: ClassVar = [
        ("version", core.Integer),
        ("private_key_algorithm", core.Any),
        ("private_key", core.OctetString),
    ]


class GostSigner:
    """GOST 34.10-2015 (512) with GOST 34.11-2015 (Streebog-512), OIDs 1.2.398.3.10.1.1.2.x."""

    family: Family = "gost2015"

    def __init__(self, key: gost.GostPrivateKey) -> None:
        self.key = key
        self._spki = keys.PublicKeyInfo.load(gost.public_key_info_der(key.public_key(), PROFILE))

    @classmethod
    def generate(cls) -> GostSigner:
        return cls(gost.generate_private_key(PROFILE))

    @classmethod
    def from_pkcs8(cls, der: bytes) -> GostSigner:
        return cls(gost.private_key_from_pkcs8(der))

    def public_key_info(self) -> keys.PublicKeyInfo:
        return self._spki

    def signature_algorithm(self) -> algos.SignedDigestAlgorithm:
        # NCA writes NULL parameters here (its CRLs omit them; verifiers must accept both).
        return algos.SignedDigestAlgorithm({"algorithm": oids.GOST2015_512_SIGNATURE, "parameters": core.Null()})

    def digest_algorithm(self) -> algos.DigestAlgorithm:
        return algos.DigestAlgorithm({"algorithm": oids.STREEBOG_512, "parameters": core.Null()})

    def digest(self, data: bytes) -> bytes:
        return bytes(gost.digest(oids.STREEBOG_512, data))

    def sign(self, data: bytes) -> bytes:
        return bytes(gost.sign(self.key, oids.GOST2015_512_SIGNATURE, data))

    def private_key_pkcs8(self) -> bytes:
        """PKCS#8 as NCA writes it: privateKey = OCTET STRING wrapping DER OCTET STRING(d, little-endian)."""
        algorithm = core.Sequence.load(self._spki.dump())[0]
        info = _PrivateKeyInfo(
            {
                "version": 0,
                "private_key_algorithm": core.Any.load(algorithm.dump()),
                "private_key": core.OctetString(self.key.raw()).dump(),
            }
        )
        return bytes(info.dump())
