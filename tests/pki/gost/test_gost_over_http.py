"""The service verifies the real NCA GOST signatures over HTTP, whichever GOST path this process has.

Run as part of the suite it checks the engine path (the second verification of a CMS is answered on the
loop through the gost engine). `test_engine_absent.py` runs this same module in a child process whose
OpenSSL finds no gost engine and no gost provider (``OPENSSL_ENGINES`` / ``OPENSSL_MODULES`` pointing at
an empty folder, ``AUTHSVC_TEST_GOST_PATH=python``): the service must start and give the same verdicts
in pure Python. R-7.1.
"""

from __future__ import annotations

import base64
import os
from typing import Any

import pytest

from authsvc.crypto.local_keys import LocalKeyStore
from authsvc.pki import gost
from tests.api.test_eds_fixtures import AT_2015, AT_DANIKARIK, b64, pki_settings
from tests.conftest import Api, make_settings, start_api
from tests.pki.gost import material

EXPECTED_PATH = os.environ.get("AUTHSVC_TEST_GOST_PATH", "c")  # c (C, engine behind it), engine or python


@pytest.fixture
async def eds_api(aiohttp_client: Any, tmp_path: Any, keys: LocalKeyStore) -> Api:
    settings = make_settings(f"sqlite:///{tmp_path}/authsvc.db", pki=pki_settings(), server={"process_workers": 1})
    return await start_api(aiohttp_client, settings, keys)


async def _verify(api: Api, cms: str, at: str) -> dict[str, Any]:
    resp = await api.post("/v1/eds/cms/verify", {"cms": cms, "validation_time": at, "revocation_check": []})
    assert resp.status == 200, await resp.text()
    result: dict[str, Any] = await resp.json()
    return result


def _reasons(result: dict[str, Any]) -> list[tuple[str, list[str]]]:
    return [(s["certificate"]["subject"]["iin"], s["reasons"]) for s in result["signers"]]


def test_this_process_has_the_expected_gost_path() -> None:
    kazakh_512 = "id-tc26-gost-3410-12-512-paramSetA"
    assert (kazakh_512 in gost.native_curves()) is (EXPECTED_PATH == "c")
    if EXPECTED_PATH == "python":
        assert gost.engine_curves() == frozenset() and not gost.openssl_fast_path_active()
    else:
        assert kazakh_512 in gost.engine_curves() and gost.openssl_fast_path_active()


async def test_gost_cms_verdicts(eds_api: Api) -> None:
    two_signers = b64("ncanode", "cms", "SIGNED_CMS.p7s")  # GOST-2015-512, then RSA (expired by then)
    for _ in range(2):  # the first from the pool, the second from the remembered path
        result = await _verify(eds_api, two_signers, AT_2015)
        assert _reasons(result) == [("123456789012", []), ("123456789011", ["expired"])]
        assert result["signers"][0]["signature_valid"]

    der = base64.b64decode(two_signers)
    (gost_signer,) = [s for s in material.gost_signatures() if s.where == "cms ncanode/cms/SIGNED_CMS.p7s"]
    assert der.count(gost_signer.signature) == 1
    forged = der.replace(gost_signer.signature, material.flip(gost_signer.signature, 7))
    for _ in range(2):
        result = await _verify(eds_api, base64.b64encode(forged).decode(), AT_2015)
        assert _reasons(result) == [("123456789012", ["bad_signature"]), ("123456789011", ["expired"])]

    (gost2004, *_) = material.danikarik_gost_cms()  # GOST 34.310-2004 with GOST 34.311-95
    result = await _verify(eds_api, gost2004.read_text(), AT_DANIKARIK)
    assert result["valid"] and result["signers"][0]["signature_algorithm"] == "1.2.398.3.10.1.1.1.2"
