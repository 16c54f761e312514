"""The card's private keys and what GENERAL AUTHENTICATE does with each (SP 800-73-4 part 2 §3.2.4,
SP 800-78-4 table 6-2 for the algorithm references):

    07  RSA-2048     the challenge is the already padded 256-byte block; the card applies the raw
                     private operation (the host does PKCS#1 v1.5 or PSS padding, as on every PIV card)
    11  ECC P-256    the challenge is the hash (up to 32 bytes); the answer is a DER ECDSA-Sig-Value
    D2  GOST R 34.10-2015, 512-bit (private reference of this card, not in SP 800-78)
                     the challenge is the 64-byte GOST R 34.11-2015 (Streebog-512) digest, as the host
                     computed it; the answer is the 128-byte signature in NCA's encoding (r‖s,
                     little-endian, KZ-PKI.md §2), verifiable with the card's NCA certificate"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Protocol

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils

from authsvc.pki import gost

ALG_RSA_2048: Final = 0x07
ALG_ECC_P256: Final = 0x11
ALG_GOST_2015_512: Final = 0xD2
GOST_SIGNATURE_OID: Final = "1.2.398.3.10.1.1.2.3.2"  # GOST 34.10-2015-512 with Streebog-512 (NCA)


_DIGEST_INFOS: Final[tuple[tuple[bytes, hashes.HashAlgorithm], ...]] = (
    (bytes.fromhex("3031300d060960864801650304020105000420"), hashes.SHA256()),
    (bytes.fromhex("3041300d060960864801650304020205000430"), hashes.SHA384()),
    (bytes.fromhex("3051300d060960864801650304020305000440"), hashes.SHA512()),
    (bytes.fromhex("3021300906052b0e03021a05000414"), hashes.SHA1()),
)


class ChallengeRejected(ValueError):
    """The challenge does not fit the key (wrong length, not below the modulus)."""


class CardKey(Protocol):
    @property
    def algorithm(self) -> int: ...

    def sign(self, challenge: bytes) -> bytes: ...


@dataclass(frozen=True)
class RsaCardKey:
    key: rsa.RSAPrivateKey
    algorithm: int = ALG_RSA_2048

    def sign(self, challenge: bytes) -> bytes:
        numbers = self.key.private_numbers()
        n = numbers.public_numbers.n
        size = (n.bit_length() + 7) // 8
        c = int.from_bytes(challenge, "big")
        if len(challenge) != size or c >= n:
            raise ChallengeRejected("an RSA challenge is one block below the modulus")
        fast = self._pkcs1_v15(challenge, size)
        if fast is not None:
            return fast
        # CRT: the simulator has no raw-RSA primitive in pyca/cryptography, and this is 4x faster than pow(c, d, n)
        p, q = numbers.p, numbers.q
        m1, m2 = pow(c, numbers.dmp1, p), pow(c, numbers.dmq1, q)
        m = m2 + q * ((numbers.iqmp * (m1 - m2)) % p)
        return m.to_bytes(size, "big")

    def _pkcs1_v15(self, block: bytes, size: int) -> bytes | None:
        """The same m^d mod n through OpenSSL when the block is an EMSA-PKCS1-v1_5 encoding of a
        known digest (deterministic, so bit-identical to the raw operation, and ~10x faster)."""
        for prefix, algorithm in _DIGEST_INFOS:
            digest_len = algorithm.digest_size
            info_len = len(prefix) + digest_len
            expected_head = b"\x00\x01" + b"\xff" * (size - 3 - info_len) + b"\x00" + prefix
            if len(block) == size and block.startswith(expected_head):
                return self.key.sign(block[-digest_len:], padding.PKCS1v15(), utils.Prehashed(algorithm))
        return None


@dataclass(frozen=True)
class EcCardKey:
    key: ec.EllipticCurvePrivateKey
    algorithm: int = ALG_ECC_P256

    def sign(self, challenge: bytes) -> bytes:
        if not 0 < len(challenge) <= 32:
            raise ChallengeRejected("a P-256 challenge is a hash of at most 32 bytes")
        # a shorter hash left-padded with zeros is the same integer e (FIPS 186-4 §6.4)
        digest = challenge.rjust(32, b"\x00")
        return self.key.sign(digest, ec.ECDSA(utils.Prehashed(hashes.SHA256())))


@dataclass(frozen=True)
class GostCardKey:
    key: gost.GostPrivateKey
    algorithm: int = ALG_GOST_2015_512

    def sign(self, challenge: bytes) -> bytes:
        if len(challenge) != 64:
            raise ChallengeRejected("a GOST-2015-512 challenge is the 64-byte Streebog-512 digest")
        return bytes(gost.sign_digest(self.key, GOST_SIGNATURE_OID, challenge, randomized=True))


def load_key(pkcs8: bytes) -> CardKey:
    """A card key from unencrypted PKCS#8 DER: RSA and EC through pyca/cryptography, GOST through authsvc.pki.gost."""
    try:
        key = serialization.load_der_private_key(pkcs8, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):  # an algorithm pyca/cryptography does not know: GOST
        return GostCardKey(gost.private_key_from_pkcs8(pkcs8))
    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size != 2048:
            raise ValueError("the card holds RSA-2048 keys only")
        return RsaCardKey(key)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        if not isinstance(key.curve, ec.SECP256R1):
            raise ValueError("the card holds ECC P-256 keys only")
        return EcCardKey(key)
    raise ValueError(f"unsupported key type {type(key).__name__}")
