"""The service's attestation keys and a verifier for lenders and the regulator.

GET  /.well-known/jwks.json     the attestation public keys (RFC 7517 JWK Set), old ones too; no API key
POST /v1/attestations/verify    {"attestation"}: valid or not, why not, and the claims when valid

A lender can equally verify offline with any JOSE library and the JWK Set; this endpoint answers the same.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from authsvc.api.body import parse, read_body
from authsvc.api.routing import Operation, Operations
from authsvc.api.state import ATTESTOR
from authsvc.attestation.jws import MAX_TOKEN_CHARS

JWKS_MAX_AGE_S = 300  # a rotated-in key is fetched again within minutes (JOSE libraries refetch on unknown kid)


class Jwk(BaseModel):
    kty: Literal["OKP"]
    crv: Literal["Ed25519"]
    x: str = Field(description="the public key, base64url (RFC 8037)")
    kid: str
    use: Literal["sig"]
    alg: Literal["EdDSA"]


class Jwks(BaseModel):
    keys: list[Jwk] = Field(description="the current key first; keys of earlier rotations stay listed")


class AttestationVerifyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    attestation: Annotated[str, Field(min_length=1, max_length=MAX_TOKEN_CHARS, description="the compact JWS")]


class Reason(BaseModel):
    code: str = Field(description="attestation_malformed | attestation_algorithm_refused | attestation_unknown_key"
                      " | attestation_bad_signature")  # fmt: skip
    detail: str


class AttestationVerifyOut(BaseModel):
    valid: bool
    kid: str | None = Field(description="the key that signed it (when valid), or the kid the header names")
    claims: dict[str, Any] | None = Field(description="the signed claims; null unless valid")
    reasons: list[Reason] = Field(description="why it is not valid; empty when valid")


async def jwks(request: web.Request) -> web.Response:
    body = Jwks.model_validate(request.app[ATTESTOR].jwks())
    return web.json_response(
        text=body.model_dump_json(), headers={"Cache-Control": f"public, max-age={JWKS_MAX_AGE_S}"}
    )


async def verify(request: web.Request) -> web.Response:
    body: AttestationVerifyIn = parse(AttestationVerifyIn, await read_body(request))
    verdict = await request.app[ATTESTOR].acheck(body.attestation)  # an invalid token is an answer, not an error
    reasons = [Reason(code=verdict.code, detail=verdict.detail or "")] if verdict.code else []
    answer = AttestationVerifyOut(valid=verdict.valid, kid=verdict.kid, claims=verdict.claims, reasons=reasons)
    return web.json_response(text=answer.model_dump_json())


def register(ops: Operations) -> None:
    ops.add(
        Operation(
            "GET",
            "/.well-known/jwks.json",
            jwks,
            "jwks",
            "The attestation public keys (JWK Set), current and earlier",
            responses={200: Jwks},
            auth=False,
            tags=("attestations",),
        )
    )
    ops.add(
        Operation(
            "POST",
            "/v1/attestations/verify",
            verify,
            "verify_attestation",
            "Verify an attestation this service issued: valid, why not, its claims",
            body=AttestationVerifyIn,
            responses={200: AttestationVerifyOut},
            tags=("attestations",),
        )
    )
