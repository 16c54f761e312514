"""Signing a contract with a one-time code (R-10.1): the code is bound to the document's SHA-256, so a
code sent for one version of the contract does not sign another, and it signs once."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from authsvc.api.state import DB, FACTORS, KEYS
from authsvc.crypto.local_keys import LocalKeyStore
from authsvc.errors import Conflict
from authsvc.methods import otp
from tests.methods.factorkit import PEOPLE, Parties, register, sent_code, start_parties, start_service

ARMAN = PEOPLE["arman"]
DOC = hashlib.sha256(b"loan contract v1").hexdigest()
CHANGED = hashlib.sha256(b"loan contract v2").hexdigest()


@pytest.fixture
async def parties(aiohttp_server: Any) -> Parties:
    return await start_parties(aiohttp_server)


async def test_contract_code_signs_only_its_document_and_only_once(
    aiohttp_client: Any, dsn: str, keys: LocalKeyStore, parties: Parties
) -> None:
    api = await start_service(aiohttp_client, dsn, keys, parties, verify_free_failures=10)
    assert api.app[FACTORS] is not None
    factors = api.app[FACTORS]
    client = await register(api, ARMAN)
    async with api.app[DB].transaction() as conn:
        sent = await otp.issue_contract_code(
            conn,
            api.app[KEYS],
            factors,
            lender_id=api.lender_id,
            client_id=client,
            contract_id="C-1",
            document_sha256=DOC,
        )
    factors.outbox_bell.set()
    assert sent.phone.endswith("67")
    code = await sent_code(parties, ARMAN.phone.number)

    async def check(contract_id: str, digest: str) -> otp.CodeCheck:
        async with api.app[DB].transaction() as conn:
            return await otp.verify_contract_code(
                conn,
                api.app[KEYS],
                factors,
                client_id=client,
                contract_id=contract_id,
                document_sha256=digest,
                code=code,
            )

    assert not (await check("C-1", CHANGED)).ok
    assert not (await check("C-2", DOC)).ok
    assert (await check("C-1", DOC)).ok
    with pytest.raises(Conflict) as raised:  # a repeat of the accepted code (issue 11.7)
        await check("C-1", DOC)
    assert raised.value.code == "otp_already_used"
