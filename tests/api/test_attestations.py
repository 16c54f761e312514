"""The attestation endpoints over HTTP, on SQLite and PostgreSQL: the JWK Set at /.well-known/jwks.json
(no API key, RFC 7517 OKP keys that a lender's own verifier uses), POST /v1/attestations/verify answering
valid or why not, and a rotation in a running service keeping earlier attestations valid."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

from authsvc.api.state import ATTESTOR
from authsvc.crypto.local_keys import LocalKeyStore
from tests.attestation.offline import verify_offline
from tests.attestation.test_attestor import claims
from tests.conftest import Api


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


async def test_jwks_is_public_and_verifies_an_issued_attestation_offline(api: Api) -> None:
    token = api.app[ATTESTOR].issue(claims())
    resp = await api.client.get("/.well-known/jwks.json")  # no Authorization header
    assert resp.status == 200 and resp.content_type == "application/json"
    assert "max-age=" in resp.headers["Cache-Control"] and "public" in resp.headers["Cache-Control"]
    jwks = await resp.json()
    [key] = jwks["keys"]
    assert set(key) == {"kty", "crv", "x", "kid", "use", "alg"}
    assert (key["kty"], key["crv"], key["use"], key["alg"]) == ("OKP", "Ed25519", "sig", "EdDSA")
    assert verify_offline(token, jwks) == claims()
    assert "d" not in key  # the private half is never published


async def test_verify_answers_valid_with_the_claims(api: Api) -> None:
    token = api.app[ATTESTOR].issue(claims())
    resp = await api.post("/v1/attestations/verify", {"attestation": token})
    body = await resp.json()
    assert resp.status == 200, body
    assert body == {"valid": True, "kid": api.app[ATTESTOR].key_id, "claims": claims(), "reasons": []}


async def test_verify_answers_invalid_with_the_reason(api: Api) -> None:
    attestor = api.app[ATTESTOR]
    token = attestor.issue(claims())
    header_b64, payload_b64, sig_b64 = token.split(".")
    at = len(header_b64) + 1 + len(payload_b64) // 2  # one character in the middle of the claims
    forged_payload = b64(json.dumps(claims(sub="cl_someone_else"), sort_keys=True, separators=(",", ":")).encode())
    public = base64.urlsafe_b64decode(attestor.jwks()["keys"][0]["x"] + "=")
    hs_header = b64(json.dumps({"alg": "HS256", "kid": attestor.key_id, "typ": "authsvc-attestation+jwt"}).encode())
    hs_mac = hmac.new(public, f"{hs_header}.{forged_payload}".encode(), hashlib.sha256).digest()
    cases = {
        f"{header_b64}.{forged_payload}.{sig_b64}": "attestation_bad_signature",
        token[:at] + ("A" if token[at] != "A" else "B") + token[at + 1 :]: "attestation_bad_signature",
        f"{b64(json.dumps({'alg': 'none', 'kid': attestor.key_id}).encode())}.{forged_payload}.": (
            "attestation_algorithm_refused"
        ),
        f"{hs_header}.{forged_payload}.{b64(hs_mac)}": "attestation_algorithm_refused",
        "not a token": "attestation_malformed",
        f"{b64(json.dumps({'alg': 'EdDSA', 'kid': 'gone', 'typ': 'authsvc-attestation+jwt'}).encode())}"
        f".{payload_b64}.{sig_b64}": "attestation_unknown_key",
    }
    for forged, code in cases.items():
        resp = await api.post("/v1/attestations/verify", {"attestation": forged})
        body = await resp.json()
        assert resp.status == 200 and body["valid"] is False and body["claims"] is None, body
        assert [r["code"] for r in body["reasons"]] == [code] and body["reasons"][0]["detail"], (forged, body)
    named = await (await api.post("/v1/attestations/verify", {"attestation": list(cases)[-1]})).json()
    assert named["kid"] == "gone"  # which key the refused token named, to help the caller


async def test_verify_refuses_bad_requests_with_problems(api: Api) -> None:
    token = api.app[ATTESTOR].issue(claims())
    resp = await api.client.post("/v1/attestations/verify", json={"attestation": token})  # no API key
    assert resp.status == 401 and resp.content_type == "application/problem+json"
    for body, code in (({}, "missing_field"), ({"attestation": token, "x": 1}, "unknown_field"),
                       ({"attestation": 5}, "string_type"), ({"attestation": ""}, "string_too_short"),
                       ({"attestation": "A" * 70_000}, "string_too_long")):  # fmt: skip
        resp = await api.post("/v1/attestations/verify", body)
        problem = await resp.json()
        assert resp.status == 422 and resp.content_type == "application/problem+json", problem
        assert problem["code"] == code, problem
    resp = await api.client.post(
        "/v1/attestations/verify", data=b"{not json", headers=api.headers(**{"Content-Type": "application/json"})
    )
    assert resp.status == 400 and (await resp.json())["code"] == "malformed_json"


async def test_rotation_in_a_running_service_keeps_earlier_attestations_valid(api: Api, keys: LocalKeyStore) -> None:
    attestor = api.app[ATTESTOR]
    before = attestor.issue(claims(jti="before"))
    old_kid = attestor.key_id
    new_kid = keys.rotate_attestation_key()
    after = attestor.issue(claims(jti="after"))
    jwks = await (await api.client.get("/.well-known/jwks.json")).json()
    assert [k["kid"] for k in jwks["keys"]] == [new_kid, old_kid]
    for token, jti, kid in ((before, "before", old_kid), (after, "after", new_kid)):
        body = await (await api.post("/v1/attestations/verify", {"attestation": token})).json()
        assert body["valid"] is True and body["kid"] == kid and body["claims"]["jti"] == jti, body
        assert verify_offline(token, jwks)["jti"] == jti


async def test_the_openapi_document_describes_both_operations(api: Api) -> None:
    document: dict[str, Any] = await (await api.client.get("/openapi.json")).json()
    jwks = document["paths"]["/.well-known/jwks.json"]["get"]
    assert "security" not in jwks and jwks["responses"]["200"]
    verify = document["paths"]["/v1/attestations/verify"]["post"]
    assert verify["security"] == [{"bearer": []}] and "422" in verify["responses"]
