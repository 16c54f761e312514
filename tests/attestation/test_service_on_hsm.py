"""The service with its keys on a real SoftHSM2 token: attestations are signed on the token, the JWK Set over
HTTP is the token's public keys, and while the token is away nothing can be signed (503
key_store_unavailable, nothing half-made) but attestations still verify, from the public keys in memory."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from authsvc.api.state import ATTESTOR
from authsvc.crypto.pkcs11_keys import KeyStoreUnavailable, Pkcs11KeyStore
from tests.attestation.offline import verify_offline
from tests.attestation.test_attestor import claims, make_hsm
from tests.conftest import make_settings, start_api
from tests.drivers.pkcs11.softhsm import token_dir


async def test_attestations_on_the_hsm_over_http(aiohttp_client: Any, tmp_path: Path) -> None:
    hsm: Pkcs11KeyStore = make_hsm()
    api = await start_api(aiohttp_client, make_settings(f"sqlite:///{tmp_path}/a.db"), hsm)  # type: ignore[arg-type]
    attestor = api.app[ATTESTOR]
    token = attestor.issue(claims())
    jwks = await (await api.client.get("/.well-known/jwks.json")).json()
    assert [k["kid"] for k in jwks["keys"]] == [hsm.attestation_key_id] and hsm.attestation_key_id.startswith("s0001-")
    assert verify_offline(token, jwks) == claims()
    body = await (await api.post("/v1/attestations/verify", {"attestation": token})).json()
    assert body["valid"] is True and body["claims"] == claims()

    folder = token_dir(hsm._label)
    shutil.move(folder, tmp_path / "pocket")
    try:
        with pytest.raises(KeyStoreUnavailable) as err:
            attestor.issue(claims(jti="while-away"))
        assert err.value.code == "key_store_unavailable" and err.value.status == 503
        body = await (await api.post("/v1/attestations/verify", {"attestation": token})).json()
        assert body["valid"] is True
        assert (await api.client.get("/.well-known/jwks.json")).status == 200
    finally:
        shutil.move(tmp_path / "pocket", folder)
