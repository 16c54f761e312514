"""A lender's own verifier, written from RFC 7515 §5.2, RFC 7517 and RFC 8037 with `cryptography` alone (no
JOSE library is installed, and none of authsvc's code is used): what "verifiable offline with any JOSE
library and the published keys" has to mean."""

from __future__ import annotations

import base64
import json
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


def _decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def verify_offline(token: str, jwk_set: dict[str, Any]) -> dict[str, Any]:
    """The claims if ``token`` is an EdDSA compact JWS by a key of ``jwk_set``; raises otherwise."""
    header_b64, payload_b64, signature_b64 = token.split(".")
    header = json.loads(_decode(header_b64))
    if header.get("alg") != "EdDSA":
        raise ValueError(f"algorithm {header.get('alg')!r} not accepted")
    jwk = next(k for k in jwk_set["keys"] if k["kid"] == header["kid"])
    if (jwk["kty"], jwk["crv"], jwk.get("use", "sig")) != ("OKP", "Ed25519", "sig"):
        raise ValueError(f"not an Ed25519 signing key: {jwk}")
    key = Ed25519PublicKey.from_public_bytes(_decode(jwk["x"]))
    key.verify(_decode(signature_b64), f"{header_b64}.{payload_b64}".encode())  # raises InvalidSignature
    claims: dict[str, Any] = json.loads(_decode(payload_b64))
    return claims
