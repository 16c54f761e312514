"""Attestations (issue 10 item 3): a completed identification as a compact JWS (RFC 7515) signed through the
`KeyStore` with the service's Ed25519 attestation key (on the HSM when configured), its public keys as a JWK
Set, and verification that refuses every token this service did not sign, unchanged.

`Attestor(keys)`: ``issue(claims) -> str``, ``verify(token) -> VerifiedAttestation`` (raises
`AttestationInvalid` with an ``attestation_*`` code), ``check(token) -> Verdict`` (the same as an answer),
``jwks()``. `identification_claims` builds the claims.
"""

from authsvc.attestation.attestor import ALGORITHM, TYPE, Attestor, Verdict, VerifiedAttestation
from authsvc.attestation.claims import AttestedStep, identification_claims
from authsvc.attestation.jws import AttestationInvalid

__all__ = [
    "ALGORITHM",
    "TYPE",
    "AttestationInvalid",
    "AttestedStep",
    "Attestor",
    "Verdict",
    "VerifiedAttestation",
    "identification_claims",
]
