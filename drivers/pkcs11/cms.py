"""CMS SignedData from a token signature, NCALayer-style (attached or detached; signed attributes
contentType, signingTime, messageDigest, signingCertificateV2).

The structure is assembled by the project's one CMS builder (`simulators.nca.cms.build_signed_data`, which
the NCA simulator's NCALayer stand-in and TSA use too); only the signature comes from the token.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, cast

from asn1crypto import algos, core, x509

from drivers.pkcs11.credentials import KeyKind
from simulators.nca.cms import build_signed_data

if TYPE_CHECKING:
    from simulators.nca.keys import Signer


class _TokenSigner:
    """The four members of the simulator's `Signer` that `build_signed_data` uses (the others — PKCS#8
    export, key family — make no sense for a key that never leaves a token)."""

    def __init__(self, kind: KeyKind, sign: Callable[[bytes], bytes]) -> None:
        self._kind = kind
        self._sign = sign

    def signature_algorithm(self) -> algos.SignedDigestAlgorithm:
        if self._kind == "rsa":
            return algos.SignedDigestAlgorithm({"algorithm": "sha256_rsa", "parameters": core.Null()})
        return algos.SignedDigestAlgorithm({"algorithm": "sha256_ecdsa"})  # RFC 5758: parameters absent

    def digest_algorithm(self) -> algos.DigestAlgorithm:
        return algos.DigestAlgorithm({"algorithm": "sha256", "parameters": core.Null()})

    def digest(self, data: bytes) -> bytes:
        return hashlib.sha256(data).digest()

    def sign(self, data: bytes) -> bytes:
        return self._sign(data)


def build_cms(
    sign: Callable[[bytes], bytes],
    kind: KeyKind,
    certificate_der: bytes,
    content: bytes,
    *,
    detached: bool = False,
    signing_time: datetime | None = None,
) -> bytes:
    """DER CMS over ``content``; ``sign`` signs the DER of the signed attributes (SHA-256 inside)."""
    info = build_signed_data(
        cast("Signer", _TokenSigner(kind, sign)),
        x509.Certificate.load(certificate_der),
        content=content,
        detached=detached,
        signing_time=signing_time or datetime.now(UTC),
    )
    return bytes(info.dump())
