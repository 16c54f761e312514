"""`Attestor`: signs an identification's result as a compact JWS with the service's attestation key and
verifies such tokens (R-2.1 authenticity of electronic messages, R-12.1 alteration detected).

The algorithm is EdDSA over Ed25519 (RFC 8037), the one curve both key stores have: the key file in software,
the PKCS#11 token with CKM_EDDSA, so an HSM key signs when one is configured. The attestation key is not the
audit key: the two rotate on their own schedules (attestation keys are published to lenders and kept for
ever; the audit key is internal), and a signature made for one purpose can never be presented as the other.

Verification trusts nothing the token says about itself beyond the key id: the algorithm must be exactly
``EdDSA`` (so ``none``, HS256 keyed with the public key, and every other algorithm are refused before any key
is looked at), the header may hold only ``alg``, ``kid`` and ``typ`` (a key or a key URL carried in the token,
``jwk``/``jku``/``x5c``/``x5u``, and ``crit`` extensions are refused), and the key comes from the key store by
``kid``. A lender verifies offline with any JOSE library and the keys at ``/.well-known/jwks.json``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature

from authsvc import error_codes
from authsvc.attestation import jws, signing
from authsvc.attestation.jws import AttestationInvalid
from authsvc.crypto.keystore import KeyStore

ALGORITHM = "EdDSA"  # RFC 8037; RFC 9864's "Ed25519" names the same signature, not yet read by most libraries
TYPE = "authsvc-attestation+jwt"  # explicit typing (RFC 8725 §3.11): never confused with another JWT
HEADER_MEMBERS = frozenset({"alg", "kid", "typ"})
MAX_KID_CHARS = 64


@dataclass(frozen=True)
class VerifiedAttestation:
    """An attestation whose signature verified with the service's key ``kid``."""

    claims: dict[str, Any]
    kid: str
    algorithm: str
    header: dict[str, Any]


@dataclass(frozen=True)
class Verdict:
    """`Attestor.check`'s answer: ``claims`` only when valid; otherwise ``code`` and ``detail`` say why."""

    valid: bool
    kid: str | None  # the signing key when valid, else the kid the header names (unverified) if readable
    claims: dict[str, Any] | None = None
    code: str | None = None
    detail: str | None = None


class Attestor:
    """Issues and verifies attestations with the attestation keys of ``keys``."""

    def __init__(self, keys: KeyStore) -> None:
        self._keys = keys
        _ = keys.attestation_key_id  # at start-up: ConfigError naming the command when the store has none

    @property
    def key_id(self) -> str:
        """The key new attestations are signed with."""
        return self._keys.attestation_key_id

    def _unsigned(self, claims: Mapping[str, Any]) -> tuple[str, bytes]:
        kid = self._keys.attestation_key_id
        header = {"alg": ALGORITHM, "kid": kid, "typ": TYPE}
        return kid, jws.signing_input(header, jws.canonical_json(claims))

    def issue(self, claims: Mapping[str, Any]) -> str:
        """The compact JWS of ``claims`` (plain JSON values; serialised canonically), signed with the current
        attestation key. Claims travel readable (base64url is not encryption): no personal data in clear."""
        kid, signed = self._unsigned(claims)
        return jws.compact(signed, self._keys.sign_attestation(kid, signed))

    async def aissue(self, claims: Mapping[str, Any]) -> str:
        """`issue`, signed off the event loop where the key store's device signs (`signing.sign_attestation`)."""
        kid, signed = self._unsigned(claims)
        return jws.compact(signed, await signing.sign_attestation(self._keys, kid, signed))

    def verify(self, token: str) -> VerifiedAttestation:
        """The attestation's claims if ``token`` is one this service signed, unchanged; otherwise raises
        `AttestationInvalid` whose ``code`` is attestation_malformed, attestation_algorithm_refused,
        attestation_unknown_key or attestation_bad_signature."""
        parts = jws.split(token)
        header = parts.header
        alg = header.get("alg")
        if alg != ALGORITHM:
            raise AttestationInvalid(
                f"algorithm {alg!r} is refused: attestations are signed with {ALGORITHM} only",
                code=error_codes.ATTESTATION_ALGORITHM_REFUSED,
            )
        foreign = sorted(set(header) - HEADER_MEMBERS)
        if foreign:
            raise AttestationInvalid(
                f"header members {foreign} are not ones this service writes (keys named in a token are never trusted)",
                code=error_codes.ATTESTATION_MALFORMED,
            )
        if header.get("typ") != TYPE:
            raise AttestationInvalid(
                f"typ {header.get('typ')!r} is not {TYPE!r}: not an attestation of this service",
                code=error_codes.ATTESTATION_MALFORMED,
            )
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid or len(kid) > MAX_KID_CHARS:
            raise AttestationInvalid("the header names no usable kid", code=error_codes.ATTESTATION_UNKNOWN_KEY)
        try:
            public = self._keys.attestation_public_key(kid)
        except KeyError:
            raise AttestationInvalid(
                f"kid {kid!r} is not a key of this service", code=error_codes.ATTESTATION_UNKNOWN_KEY
            ) from None
        try:
            public.verify(parts.signature, parts.signing_input)
        except InvalidSignature:
            raise AttestationInvalid(
                "the signature does not match the header and claims", code=error_codes.ATTESTATION_BAD_SIGNATURE
            ) from None
        # Parsed only once the signature holds: what is read was written by this service.
        claims = jws.json_object(parts.payload, "payload")
        return VerifiedAttestation(claims=claims, kid=kid, algorithm=ALGORITHM, header=header)

    async def acheck(self, token: str) -> Verdict:
        """`check`, the key it names looked up first off the event loop (a key id not held reads the key
        store's device again, at most once a second), so `verify` then finds it in memory."""
        kid = _claimed_kid(token)
        if kid:
            with contextlib.suppress(KeyError):
                await self._keys.aattestation_public_key(kid)
        return self.check(token)

    def check(self, token: str) -> Verdict:
        """`verify` as an answer instead of an exception (for the verify endpoint)."""
        try:
            verified = self.verify(token)
        except AttestationInvalid as exc:
            return Verdict(valid=False, kid=_claimed_kid(token), code=str(exc.code), detail=exc.detail)
        return Verdict(valid=True, kid=verified.kid, claims=verified.claims)

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        """The JWK Set (RFC 7517, OKP keys of RFC 8037) of every attestation key, the current one first."""
        current = self._keys.attestation_key_id
        keys = self._keys.attestation_public_keys()
        order = [current, *(k for k in keys if k != current)]
        return {"keys": [_jwk(kid, keys[kid].public_bytes_raw()) for kid in order if kid in keys]}


def _claimed_kid(token: str) -> str | None:
    # Shows which key a refused token named; read without trusting it.
    try:
        kid = jws.split(token).header.get("kid")
    except AttestationInvalid:
        return None
    return kid if isinstance(kid, str) and len(kid) <= MAX_KID_CHARS else None


def _jwk(kid: str, raw: bytes) -> dict[str, str]:
    return {"kty": "OKP", "crv": "Ed25519", "x": jws.b64url(raw), "kid": kid, "use": "sig", "alg": ALGORITHM}
