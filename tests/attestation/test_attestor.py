"""Attestations signed with the service's attestation key, on the key file and on a real SoftHSM2 token
(R-2.1 authenticity, R-12.1 alteration detected): they verify here and with a lender's own verifier, one
changed character anywhere makes them invalid, forged headers (alg none, HS256 keyed with the public key, a
key carried in the token) are refused, and a key rotation keeps earlier attestations valid."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from authsvc.attestation import TYPE, AttestationInvalid, AttestedStep, Attestor, identification_claims
from authsvc.crypto.keystore import KeyStore
from authsvc.crypto.local_keys import LocalKeyStore
from authsvc.crypto.pkcs11_keys import Pkcs11KeyStore
from authsvc.errors import ConfigError
from drivers.pkcs11.provision import SOFTHSM_MODULE
from tests.attestation.offline import verify_offline
from tests.drivers.pkcs11.softhsm import PIN, provision, softhsm_home

STORES = ["file", "hsm"]
ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims(**over: Any) -> dict[str, Any]:
    steps = [
        AttestedStep("eds", datetime(2026, 12, 1, 10, 0, 1, 250_000, UTC), "passed", [hashlib.sha256(b"cms").hexdigest()]),
        AttestedStep("liveness", datetime(2026, 12, 1, 10, 0, 9, tzinfo=UTC), "passed",
                     [hashlib.sha256(b"frames").hexdigest(), hashlib.sha256(b"photo").hexdigest()]),
    ]  # fmt: skip
    made = identification_claims(
        issuer="https://authsvc.example.kz",
        client_id="cl_3f9a",
        lender_id="ln_mfo1",
        operation="loan_contract",
        profile="nb-2025",
        identification_id="idn_77",
        steps=steps,
        issued_at=datetime(2026, 12, 1, 10, 0, 10, tzinfo=UTC),
        jti="a1b2c3",
    )
    return made | over


def make_hsm() -> Pkcs11KeyStore:
    softhsm_home()
    token = provision()
    store = Pkcs11KeyStore(SOFTHSM_MODULE, token.label, PIN)
    store.initialize()
    return store


@pytest.fixture(scope="module")
def shared_hsm() -> Pkcs11KeyStore:
    return make_hsm()  # a token takes seconds to provision: the tests that do not rotate share one


@pytest.fixture(params=STORES)
def store(request: pytest.FixtureRequest) -> KeyStore:
    if request.param == "file":
        return LocalKeyStore.generate()
    hsm: Pkcs11KeyStore = request.getfixturevalue("shared_hsm")
    return hsm


@pytest.fixture(params=STORES)
def own_store(request: pytest.FixtureRequest) -> LocalKeyStore | Pkcs11KeyStore:
    return LocalKeyStore.generate() if request.param == "file" else make_hsm()


@pytest.fixture
def attestor(store: KeyStore) -> Attestor:
    return Attestor(store)


def test_issued_attestation_verifies_here_and_with_a_lenders_own_verifier(attestor: Attestor, store: KeyStore) -> None:
    token = attestor.issue(claims())
    verified = attestor.verify(token)
    assert verified.claims == claims() and verified.kid == store.attestation_key_id == attestor.key_id
    assert verified.header == {"alg": "EdDSA", "kid": verified.kid, "typ": TYPE}
    assert verified.claims["steps"][0] == {
        "method": "eds",
        "at": "2026-12-01T10:00:01.250Z",
        "outcome": "passed",
        "evidence_sha256": [hashlib.sha256(b"cms").hexdigest()],
    }
    assert verify_offline(token, attestor.jwks()) == claims()
    jwk = attestor.jwks()["keys"][0]
    assert jwk == {"kty": "OKP", "crv": "Ed25519", "x": jwk["x"], "kid": verified.kid, "use": "sig", "alg": "EdDSA"}
    assert len(base64.urlsafe_b64decode(jwk["x"] + "=")) == 32
    check = attestor.check(token)
    assert check.valid and check.claims == claims() and check.code is None


def test_the_attestation_key_is_not_the_audit_key(attestor: Attestor, store: KeyStore) -> None:
    assert store.attestation_key_id != store.audit_key_id
    token = attestor.issue(claims())
    header_b64, payload_b64, sig_b64 = token.split(".")
    signature = base64.urlsafe_b64decode(sig_b64 + "==")
    with pytest.raises(InvalidSignature):
        store.audit_public_key(store.audit_key_id).verify(signature, f"{header_b64}.{payload_b64}".encode())


def test_one_changed_character_anywhere_makes_it_invalid(attestor: Attestor) -> None:
    token = attestor.issue(claims())
    changed = 0
    for i, char in enumerate(token):
        if char == ".":
            others = "A."
        elif i >= len(token) - 2:  # the signature's last characters: all of them (their low bits decode to nothing)
            others = ALPHABET
        else:
            others = ALPHABET[(ALPHABET.index(char) + 1) % 64] + "."
        for other in others:
            if other == char:
                continue
            forged = token[:i] + other + token[i + 1 :]
            verdict = attestor.check(forged)
            assert not verdict.valid and verdict.claims is None, (i, char, other)
            changed += 1
    assert changed > 2 * len(token)
    # The signature's last character carries 2 bits of the 64 bytes and 4 that decode to nothing: a lax decoder
    # reads a token with other low bits as the same signature. Here it is refused.
    last = ALPHABET.index(token[-1])
    lax = token[:-1] + ALPHABET[(last & 0b110000) | ((last + 1) & 0b001111)]
    sig, lax_sig = (base64.urlsafe_b64decode(t.rsplit(".", 1)[1] + "==") for t in (token, lax))
    assert lax != token and lax_sig == sig
    assert attestor.check(lax).code == "attestation_malformed"
    for longer_or_shorter in (token + "A", token + "AA", token[:-1], token[:-2], "A" + token, token[1:]):
        assert attestor.check(longer_or_shorter).code in {"attestation_malformed", "attestation_bad_signature"}


def test_one_changed_byte_in_the_claims_or_the_header_is_a_bad_signature(attestor: Attestor) -> None:
    token = attestor.issue(claims())
    header_b64, payload_b64, sig_b64 = token.split(".")
    payload = base64.urlsafe_b64decode(payload_b64 + "==")
    for i in range(len(payload)):
        forged_payload = payload[:i] + bytes([payload[i] ^ 0x01]) + payload[i + 1 :]
        verdict = attestor.check(f"{header_b64}.{b64(forged_payload)}.{sig_b64}")
        assert verdict.code == "attestation_bad_signature", (i, verdict)
    forged = json.dumps(claims(sub="cl_other"), sort_keys=True, separators=(",", ":")).encode()
    assert attestor.check(f"{header_b64}.{b64(forged)}.{sig_b64}").code == "attestation_bad_signature"
    header = {"alg": "EdDSA", "kid": attestor.key_id, "typ": TYPE}
    reordered = b64(json.dumps(header, separators=(", ", ": ")).encode())  # same meaning, other bytes
    with pytest.raises(AttestationInvalid) as err:
        attestor.verify(f"{reordered}.{payload_b64}.{sig_b64}")
    assert err.value.code == "attestation_bad_signature" and err.value.status == 422


def _token(header: dict[str, Any], payload: bytes, signature: bytes) -> str:
    return f"{b64(json.dumps(header).encode())}.{b64(payload)}.{b64(signature)}"


def test_alg_none_hmac_with_the_public_key_and_foreign_algorithms_are_refused(attestor: Attestor) -> None:
    token = attestor.issue(claims())
    _, payload_b64, sig_b64 = token.split(".")
    payload = json.dumps(claims(sub="cl_attacker")).encode()
    kid = attestor.key_id
    public_x = attestor.jwks()["keys"][0]["x"]
    for alg in ("none", "None", "NONE", ""):
        header = {"alg": alg, "kid": kid, "typ": TYPE}
        forged = f"{b64(json.dumps(header).encode())}.{b64(payload)}."
        assert attestor.check(forged).code == "attestation_algorithm_refused", alg
    assert attestor.check(_token({"kid": kid, "typ": TYPE}, payload, b"")).code == "attestation_algorithm_refused"
    # HS256 keyed with what an attacker can read: the raw public key, its base64url, the JWK JSON.
    for secret in (
        base64.urlsafe_b64decode(public_x + "="),
        public_x.encode(),
        json.dumps(attestor.jwks()["keys"][0]).encode(),
    ):
        header_b64 = b64(json.dumps({"alg": "HS256", "kid": kid, "typ": TYPE}).encode())
        mac = hmac.new(secret, f"{header_b64}.{b64(payload)}".encode(), hashlib.sha256).digest()
        verdict = attestor.check(f"{header_b64}.{b64(payload)}.{b64(mac)}")
        assert verdict.code == "attestation_algorithm_refused" and not verdict.valid
    for alg in ("HS512", "RS256", "ES256", "PS256", "Ed25519", "eddsa", "EdDSA "):
        header_b64 = b64(json.dumps({"alg": alg, "kid": kid, "typ": TYPE}).encode())
        assert attestor.check(f"{header_b64}.{payload_b64}.{sig_b64}").code == "attestation_algorithm_refused", alg


def test_a_key_carried_in_the_token_or_an_unknown_kid_is_never_trusted(attestor: Attestor) -> None:
    attacker = Ed25519PrivateKey.generate()
    payload = json.dumps(claims(sub="cl_attacker")).encode()
    jwk = {"kty": "OKP", "crv": "Ed25519", "x": b64(attacker.public_key().public_bytes_raw())}

    def signed(header: dict[str, Any]) -> str:
        signing_input = f"{b64(json.dumps(header).encode())}.{b64(payload)}"
        return f"{signing_input}.{b64(attacker.sign(signing_input.encode()))}"

    kid = attestor.key_id
    assert attestor.check(signed({"alg": "EdDSA", "kid": kid, "typ": TYPE})).code == "attestation_bad_signature"
    unknown = attestor.check(signed({"alg": "EdDSA", "kid": "attacker-1", "typ": TYPE}))
    assert (
        unknown.code == "attestation_unknown_key"
        and unknown.kid == "attacker-1"
        and "attacker-1" in str(unknown.detail)
    )
    assert attestor.check(signed({"alg": "EdDSA", "typ": TYPE})).code == "attestation_unknown_key"
    assert attestor.check(signed({"alg": "EdDSA", "kid": 7, "typ": TYPE})).code == "attestation_unknown_key"
    for extra in ({"jwk": jwk}, {"jku": "https://evil.example/jwks"}, {"x5u": "https://evil.example/c"},
                  {"x5c": ["MIIB"]}, {"crit": ["exp"]}, {"b64": False, "crit": ["b64"]}):  # fmt: skip
        verdict = attestor.check(signed({"alg": "EdDSA", "kid": kid, "typ": TYPE} | extra))
        assert verdict.code == "attestation_malformed" and "never trusted" in str(verdict.detail), extra
    assert attestor.check(signed({"alg": "EdDSA", "kid": kid, "typ": "JWT"})).code == "attestation_malformed"
    assert attestor.check(signed({"alg": "EdDSA", "kid": kid})).code == "attestation_malformed"


def test_malformed_tokens_are_named_malformed(attestor: Attestor, store: KeyStore) -> None:
    token = attestor.issue(claims())
    header_b64, payload_b64, sig_b64 = token.split(".")
    kid = attestor.key_id
    duplicated = b64(b'{"alg":"none","alg":"EdDSA","kid":"%s","typ":"%s"}' % (kid.encode(), TYPE.encode()))
    cases = [
        "",
        "abc",
        f"{header_b64}.{payload_b64}",
        f"{token}.{sig_b64}",
        f"{header_b64}=.{payload_b64}.{sig_b64}",  # padding
        f"{header_b64}.{payload_b64}.{sig_b64}==",
        f"{header_b64}.{payload_b64}.{sig_b64[:-4]}+/AA",  # base64, not base64url
        f"{header_b64}.{payload_b64}.{sig_b64[:10]}é{sig_b64[11:]}",
        f"{b64(b'not json')}.{payload_b64}.{sig_b64}",
        f"{b64(b'[1, 2]')}.{payload_b64}.{sig_b64}",
        f"{b64(bytes([0xFF, 0xFE]))}.{payload_b64}.{sig_b64}",
        f"{duplicated}.{payload_b64}.{sig_b64}",  # duplicate members
        "A" * 70_000,
        "..",
    ]
    for case in cases:
        verdict = attestor.check(case)
        assert verdict.code == "attestation_malformed" and not verdict.valid, case[:80]
        with pytest.raises(AttestationInvalid):
            attestor.verify(case)
    # Signed by the service's own key but not one JSON object: still refused (two readers could disagree).
    header = b64(json.dumps({"alg": "EdDSA", "kid": kid, "typ": TYPE}).encode())
    for payload in (b'{"sub":"a","sub":"b"}', b"[1]", b'{"n":NaN}'):
        signing_input = f"{header}.{b64(payload)}"
        signed = f"{signing_input}.{b64(store.sign_attestation(kid, signing_input.encode()))}"
        assert attestor.check(signed).code == "attestation_malformed", payload


def test_claims_that_are_not_plain_json_are_the_callers_bug(attestor: Attestor) -> None:
    with pytest.raises(TypeError):
        attestor.issue({"at": datetime.now(UTC)})
    with pytest.raises(ValueError):
        attestor.issue({"score": float("nan")})
    with pytest.raises(ValueError, match="hex SHA-256"):
        claims() | {"steps": [AttestedStep("eds", datetime.now(UTC), "passed", ["not-a-hash"]).claim()]}
    with pytest.raises(ValueError, match="time zone"):
        AttestedStep("eds", datetime(2026, 1, 1), "passed").claim()


def test_rotation_keeps_earlier_attestations_valid_and_publishes_both_keys(
    own_store: LocalKeyStore | Pkcs11KeyStore,
) -> None:
    attestor = Attestor(own_store)
    before = attestor.issue(claims(jti="before"))
    old_kid = attestor.key_id
    new_kid = own_store.rotate_attestation_key()
    after = attestor.issue(claims(jti="after"))
    assert new_kid != old_kid and attestor.key_id == new_kid
    assert attestor.verify(before).kid == old_kid and attestor.verify(after).kid == new_kid
    jwks = attestor.jwks()
    assert [k["kid"] for k in jwks["keys"]] == [new_kid, old_kid]  # the current key first
    assert verify_offline(before, jwks)["jti"] == "before" and verify_offline(after, jwks)["jti"] == "after"


def test_another_process_on_the_token_verifies_a_key_rotated_in_after_it_started() -> None:
    first = make_hsm()
    label = first._label
    other = Attestor(Pkcs11KeyStore(SOFTHSM_MODULE, label, PIN))  # another worker, started before the rotation
    old_kid = other.key_id
    new_kid = first.rotate_attestation_key()
    token = Attestor(first).issue(claims())
    assert other.verify(token).kid == new_kid  # read from the token on the unknown kid
    assert [k["kid"] for k in other.jwks()["keys"]] == [new_kid, old_kid]


def test_a_store_without_an_attestation_key_refuses_to_start_the_attestor(tmp_path: Any) -> None:
    keys = LocalKeyStore.generate()
    old_file = json.loads(keys.to_json())
    del old_file["attestation_keys"], old_file["current_attestation_key"]  # a file from before this issue
    old = LocalKeyStore.from_json(json.dumps(old_file))
    assert old.index_mac("iin", "811201401188") == keys.index_mac("iin", "811201401188")
    with pytest.raises(ConfigError, match="keys init --if-missing"):
        Attestor(old)
