"""CMS SignedData from a token signature, NCALayer-style (attached or detached; signed attributes
contentType, signingTime, messageDigest, signingCertificateV2).

The structure is assembled by the project's one CMS builder (`simulators.nca.cms.build_signed_data`, which
the NCA simulator's NCALayer stand-in and TSA use too); only the signature comes from the token or card.
Kinds: "rsa" (SHA-256 with RSA), "ec" (ECDSA with SHA-256) and "gost2015" (GOST 34.10-2015-512 with
Streebog-512, OIDs of NCA; only a PC/SC card signs it here, `drivers.kiosk.card`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final, Literal, cast

from asn1crypto import algos, core, x509

from authsvc.pki import gost
from simulators.nca.cms import build_signed_data

if TYPE_CHECKING:
    from simulators.nca.keys import Signer

CmsKind = Literal["rsa", "ec", "gost2015"]
GOST2015_512_SIGNATURE: Final = "1.2.398.3.10.1.1.2.3.2"  # GOST 34.10-2015-512 with Streebog-512 (NCA)
STREEBOG_512: Final = "1.2.398.3.10.1.3.3"


class _TokenSigner:
    """The four members of the simulator's `Signer` that `build_signed_data` uses (the others — PKCS#8
    export, key family — make no sense for a key that never leaves a token)."""

    def __init__(self, kind: CmsKind, sign: Callable[[bytes], bytes]) -> None:
        self._kind = kind
        self._sign = sign

    def signature_algorithm(self) -> algos.SignedDigestAlgorithm:
        if self._kind == "rsa":
            return algos.SignedDigestAlgorithm({"algorithm": "sha256_rsa", "parameters": core.Null()})
        if self._kind == "gost2015":  # NULL parameters, as NCA writes them
            return algos.SignedDigestAlgorithm({"algorithm": GOST2015_512_SIGNATURE, "parameters": core.Null()})
        return algos.SignedDigestAlgorithm({"algorithm": "sha256_ecdsa"})  # RFC 5758: parameters absent

    def digest_algorithm(self) -> algos.DigestAlgorithm:
        if self._kind == "gost2015":
            return algos.DigestAlgorithm({"algorithm": STREEBOG_512, "parameters": core.Null()})
        return algos.DigestAlgorithm({"algorithm": "sha256", "parameters": core.Null()})

    def digest(self, data: bytes) -> bytes:
        if self._kind == "gost2015":
            return bytes(gost.digest(STREEBOG_512, data))
        return hashlib.sha256(data).digest()

    def sign(self, data: bytes) -> bytes:
        return self._sign(data)


def build_cms(
    sign: Callable[[bytes], bytes],
    kind: CmsKind,
    certificate_der: bytes,
    content: bytes,
    *,
    detached: bool = False,
    signing_time: datetime | None = None,
) -> bytes:
    """DER CMS over ``content``; ``sign`` signs the DER of the signed attributes (hashing it itself:
    SHA-256, or Streebog-512 for "gost2015")."""
    info = build_signed_data(
        cast("Signer", _TokenSigner(kind, sign)),
        x509.Certificate.load(certificate_der),
        content=content,
        detached=detached,
        signing_time=signing_time or datetime.now(UTC),
    )
    return bytes(info.dump())
