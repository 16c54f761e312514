"""Object identifiers of Kazakh (NCA, arc 1.2.398.3.10) and Russian (tc26, RFC 9215) GOST algorithms.

Each signature OID fixes its digest, its key size and its wire order (KZ-PKI.md §2): Kazakh
signatures are r‖s with each half little-endian; RFC 9215 signatures are s‖r big-endian, which is the
same bytes reversed as a whole. Both read the digest as a little-endian integer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

# Digests.
KZ_GOST34311_DIGEST: Final = "1.2.398.3.10.1.3.1"  # GOST 34.311-95 = GOST R 34.11-94, test S-box
KZ_STREEBOG256_DIGEST: Final = "1.2.398.3.10.1.3.2"
KZ_STREEBOG512_DIGEST: Final = "1.2.398.3.10.1.3.3"
TC26_STREEBOG256_DIGEST: Final = "1.2.643.7.1.1.2.2"
TC26_STREEBOG512_DIGEST: Final = "1.2.643.7.1.1.2.3"
CRYPTOPRO_GOST94_DIGEST: Final = "1.2.643.2.2.9"  # GOST R 34.11-94, CryptoPro S-box (RFC 4491)
CRYPTOPRO_GOST94_PARAMS: Final = "1.2.643.2.2.30.1"
# The hash-parameter OID written inside Kazakh GOST 2004 key parameters (names the test S-box).
KZ_GOST34311_PARAMS: Final = "1.2.398.3.10.1.3.1.1.0"

# Public-key algorithms.
KZ_GOST2004_KEY: Final = "1.2.398.3.10.1.1.1.1"
KZ_GOST2015_256_KEY: Final = "1.2.398.3.10.1.1.2.1"
KZ_GOST2015_512_KEY: Final = "1.2.398.3.10.1.1.2.2"
TC26_256_KEY: Final = "1.2.643.7.1.1.1.1"
TC26_512_KEY: Final = "1.2.643.7.1.1.1.2"
CRYPTOPRO_2001_KEY: Final = "1.2.643.2.2.19"

# Kazakh curve (parameter-set) OIDs.
KZ_GOST2004_CURVE: Final = "1.2.398.3.10.1.1.1.1.1"
KZ_GOST2015_256_CURVE: Final = "1.2.398.3.10.1.1.2.1.1"
KZ_GOST2015_512_CURVE: Final = "1.2.398.3.10.1.1.2.2.1"

# Signature algorithms.
KZ_GOST2004_SIGNATURE: Final = "1.2.398.3.10.1.1.1.2"
KZ_GOST2004_SIGNATURE_OLD: Final = "1.3.6.1.4.1.6801.1.2.2"
KZ_GOST2015_256_SIGNATURE: Final = "1.2.398.3.10.1.1.2.3.1"
KZ_GOST2015_512_SIGNATURE: Final = "1.2.398.3.10.1.1.2.3.2"
TC26_256_SIGNATURE: Final = "1.2.643.7.1.1.3.2"
TC26_512_SIGNATURE: Final = "1.2.643.7.1.1.3.3"
CRYPTOPRO_2001_SIGNATURE: Final = "1.2.643.2.2.3"

DIGEST_SIZES: Final[dict[str, int]] = {
    KZ_GOST34311_DIGEST: 32,
    KZ_STREEBOG256_DIGEST: 32,
    KZ_STREEBOG512_DIGEST: 64,
    TC26_STREEBOG256_DIGEST: 32,
    TC26_STREEBOG512_DIGEST: 64,
    CRYPTOPRO_GOST94_DIGEST: 32,
}


@dataclass(frozen=True, slots=True)
class SignatureAlgorithm:
    oid: str
    digest_oid: str
    key_size: int  # bytes per coordinate, and per r and per s
    reversed_blob: bool  # True for RFC 9215 (s‖r big-endian), False for Kazakh (r‖s little-endian)


SIGNATURE_ALGORITHMS: Final[dict[str, SignatureAlgorithm]] = {
    a.oid: a
    for a in (
        SignatureAlgorithm(KZ_GOST2004_SIGNATURE, KZ_GOST34311_DIGEST, 32, False),
        SignatureAlgorithm(KZ_GOST2004_SIGNATURE_OLD, KZ_GOST34311_DIGEST, 32, False),
        SignatureAlgorithm(KZ_GOST2015_256_SIGNATURE, KZ_STREEBOG256_DIGEST, 32, False),
        SignatureAlgorithm(KZ_GOST2015_512_SIGNATURE, KZ_STREEBOG512_DIGEST, 64, False),
        SignatureAlgorithm(TC26_256_SIGNATURE, TC26_STREEBOG256_DIGEST, 32, True),
        SignatureAlgorithm(TC26_512_SIGNATURE, TC26_STREEBOG512_DIGEST, 64, True),
        SignatureAlgorithm(CRYPTOPRO_2001_SIGNATURE, CRYPTOPRO_GOST94_DIGEST, 32, True),
    )
}

KEY_ALGORITHMS: Final = frozenset(
    {KZ_GOST2004_KEY, KZ_GOST2015_256_KEY, KZ_GOST2015_512_KEY, TC26_256_KEY, TC26_512_KEY, CRYPTOPRO_2001_KEY}
)


@dataclass(frozen=True, slots=True)
class KeyProfile:
    """How a simulator writes a public key: algorithm OID and its parameter OIDs."""

    key_oid: str
    curve_oid: str
    digest_param_oid: str | None


# Profile names accepted by public_key_info_der() and generate_private_key().
KEY_PROFILES: Final[dict[str, KeyProfile]] = {
    "kz-gost2004": KeyProfile(KZ_GOST2004_KEY, KZ_GOST2004_CURVE, KZ_GOST34311_PARAMS),
    # No real NCA 256-bit GOST 2015 certificate was available: the digest parameter mirrors 512's.
    "kz-gost2015-256": KeyProfile(KZ_GOST2015_256_KEY, KZ_GOST2015_256_CURVE, KZ_STREEBOG256_DIGEST),
    "kz-gost2015-512": KeyProfile(KZ_GOST2015_512_KEY, KZ_GOST2015_512_CURVE, KZ_STREEBOG512_DIGEST),
    # RFC 9215 §3 omits the digest parameter for 512-bit keys; 256-bit tc26 A carries none either.
    "tc26-256-a": KeyProfile(TC26_256_KEY, "1.2.643.7.1.2.1.1.1", None),
    "tc26-512-a": KeyProfile(TC26_512_KEY, "1.2.643.7.1.2.1.2.1", None),
    "cryptopro-2001-a": KeyProfile(CRYPTOPRO_2001_KEY, "1.2.643.2.2.35.1", CRYPTOPRO_GOST94_PARAMS),
}
