"""The public face of Kazakh GOST: digests, signature verification and signing by algorithm OID.

Verification never raises on malformed keys, signatures or data (it returns False); it raises
ValueError only for an OID that is not a GOST signature algorithm, so a caller can tell "bad
signature" from "not ours". This is the cryptographic core of the R-7.1 EDS method and of R-12.1
(detecting altered documents); KZ-PKI.md §2 gives the encodings.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable, Iterator

from authsvc.errors import AuthsvcError
from authsvc.pki.gost import oids
from authsvc.pki.gost.curves import Curve
from authsvc.pki.gost.ec import sign_raw, verify_raw
from authsvc.pki.gost.engine import engine_curves, verify_digest_engine
from authsvc.pki.gost.fastpath import streebog256_fast, streebog512_fast
from authsvc.pki.gost.gost94 import gost3411_94, gost3411_94_cryptopro
from authsvc.pki.gost.keys import (
    GostPrivateKey,
    GostPublicKey,
    generate_private_key,
    parse_public_key,
    public_key_info_der,
)
from authsvc.pki.gost.native import verify_native
from authsvc.pki.gost.pkcs12 import load_nca_pkcs12

__all__ = [  # the whole public API in one place; authsvc.pki.gost re-exports it
    "GostPrivateKey",
    "GostPublicKey",
    "digest",
    "generate_private_key",
    "is_gost_digest_oid",
    "is_gost_key_oid",
    "is_gost_signature_oid",
    "load_nca_pkcs12",
    "parse_public_key",
    "public_key_info_der",
    "sign",
    "sign_digest",
    "verify",
    "verify_digest",
]

_DIGESTS: dict[str, Callable[[bytes], bytes]] = {
    oids.KZ_GOST34311_DIGEST: gost3411_94,
    oids.KZ_STREEBOG256_DIGEST: streebog256_fast,
    oids.KZ_STREEBOG512_DIGEST: streebog512_fast,
    oids.TC26_STREEBOG256_DIGEST: streebog256_fast,
    oids.TC26_STREEBOG512_DIGEST: streebog512_fast,
    oids.CRYPTOPRO_GOST94_DIGEST: gost3411_94_cryptopro,
}


def is_gost_digest_oid(oid: str) -> bool:
    return oid in _DIGESTS


def is_gost_signature_oid(oid: str) -> bool:
    return oid in oids.SIGNATURE_ALGORITHMS


def is_gost_key_oid(oid: str) -> bool:
    return oid in oids.KEY_ALGORITHMS


def digest(oid: str, data: bytes) -> bytes:
    """The GOST digest named by ``oid`` (a digest OID or a signature OID). ValueError if unknown."""
    alg = oids.SIGNATURE_ALGORITHMS.get(oid)
    fn = _DIGESTS.get(alg.digest_oid if alg is not None else oid)
    if fn is None:
        raise ValueError(f"not a GOST digest algorithm: {oid}")
    return fn(bytes(data))


def _algorithm(oid: str) -> oids.SignatureAlgorithm:
    alg = oids.SIGNATURE_ALGORITHMS.get(oid)
    if alg is None:
        raise ValueError(f"not a GOST signature algorithm: {oid}")
    return alg


def _decode_signature(alg: oids.SignatureAlgorithm, signature: bytes) -> tuple[int, int] | None:
    n = alg.key_size
    if len(signature) != 2 * n:
        return None
    blob = signature[::-1] if alg.reversed_blob else signature
    return int.from_bytes(blob[:n], "little"), int.from_bytes(blob[n:], "little")


def _encode_signature(alg: oids.SignatureAlgorithm, r: int, s: int) -> bytes:
    n = alg.key_size
    blob = r.to_bytes(n, "little") + s.to_bytes(n, "little")
    return blob[::-1] if alg.reversed_blob else blob


def _verify_key(key: GostPublicKey, alg: oids.SignatureAlgorithm, digest_bytes: bytes, sig: bytes) -> bool:
    if key.curve.size != alg.key_size or len(digest_bytes) != oids.DIGEST_SIZES[alg.digest_oid]:
        return False
    rs = _decode_signature(alg, sig)
    if rs is None:
        return False
    r, s = rs
    if not (0 < r < key.curve.q and 0 < s < key.curve.q):
        return False  # verify_raw's own range check, ahead of the engine (which also admits r or s = q)
    e = int.from_bytes(digest_bytes, "little")
    # C first, then OpenSSL's gost engine, then Python (the reference); each None hands on. A key the C
    # path has not seen before goes to the engine when it can judge the curve (a key's table costs ~8
    # verifications, worth it only for a key that comes back).
    verdict = verify_native(key.curve, key.point, e, r, s, defer_first=key.curve.name in engine_curves())
    if verdict is None:
        verdict = verify_digest_engine(key.curve, key.point, digest_bytes, r, s)
    if verdict is not None:
        return verdict
    return verify_raw(key.curve, key.point, e, r, s)


def verify_digest(spki_der: bytes, signature_algorithm_oid: str, digest_bytes: bytes, signature: bytes) -> bool:
    """Check a GOST signature over an already computed digest (little-endian e, r‖s or RFC 9215 order),
    in this package's C (`native`), through OpenSSL's gost engine (`engine`) or in Python, in that order."""
    alg = _algorithm(signature_algorithm_oid)
    try:
        key = parse_public_key(spki_der)
        return _verify_key(key, alg, bytes(digest_bytes), bytes(signature))
    except AuthsvcError:
        raise
    except (ValueError, TypeError, ArithmeticError):
        return False


def verify(spki_der: bytes, signature_algorithm_oid: str, data: bytes, signature: bytes) -> bool:
    """Hash ``data`` with the digest the algorithm implies and check ``signature`` with the key."""
    alg = _algorithm(signature_algorithm_oid)
    try:
        key = parse_public_key(spki_der)
        if key.curve.size != alg.key_size:
            return False
        return _verify_key(key, alg, digest(alg.digest_oid, bytes(data)), bytes(signature))
    except AuthsvcError:
        raise
    except (ValueError, TypeError, ArithmeticError):
        return False


def _rfc6979_nonces(curve: Curve, d: int, e: int) -> Iterator[int]:
    """Deterministic nonces after RFC 6979 §3.2 with HMAC-SHA-512 (no RNG needed in the simulator)."""
    size, q = curve.size, curve.q
    extra = q.bit_length() - 8 * size  # <= 0; q may be shorter than the field (tc26 256 A, 512 C)
    x = d.to_bytes(size, "big")
    h = (e % q).to_bytes(size, "big")

    def mac(key: bytes, msg: bytes) -> bytes:
        return hmac.new(key, msg, hashlib.sha512).digest()

    k, v = b"\x00" * 64, b"\x01" * 64
    k = mac(k, v + b"\x00" + x + h)
    v = mac(k, v)
    k = mac(k, v + b"\x01" + x + h)
    v = mac(k, v)
    while True:
        t = b""
        while len(t) < size:
            v = mac(k, v)
            t += v
        candidate = int.from_bytes(t[:size], "big") >> -extra
        if 0 < candidate < q:
            yield candidate
        k = mac(k, v + b"\x00")
        v = mac(k, v)


def sign_digest(
    private_key: GostPrivateKey,
    signature_algorithm_oid: str,
    digest_bytes: bytes,
    *,
    randomized: bool = False,
) -> bytes:
    """Sign a precomputed digest; the nonce is deterministic unless ``randomized``."""
    alg = _algorithm(signature_algorithm_oid)
    curve = private_key.curve
    if curve.size != alg.key_size:
        raise ValueError(f"{signature_algorithm_oid} needs a {8 * alg.key_size}-bit key, not {curve.name}")
    if len(digest_bytes) != oids.DIGEST_SIZES[alg.digest_oid]:
        raise ValueError("digest length does not match the signature algorithm")
    e = int.from_bytes(digest_bytes, "little")
    nonces: Iterator[int] = (
        (1 + secrets.randbelow(curve.q - 1) for _ in iter(int, 1))
        if randomized
        else _rfc6979_nonces(curve, private_key.d, e)
    )
    for k in nonces:
        rs = sign_raw(curve, private_key.d, e, k)
        if rs is not None:
            return _encode_signature(alg, *rs)
    raise AssertionError("unreachable: the nonce generators are infinite")


def sign(private_key: GostPrivateKey, signature_algorithm_oid: str, data: bytes) -> bytes:
    """Sign ``data`` as ``signature_algorithm_oid`` does (Kazakh r‖s little-endian, or RFC 9215)."""
    alg = _algorithm(signature_algorithm_oid)
    return sign_digest(private_key, signature_algorithm_oid, digest(alg.digest_oid, bytes(data)))
