"""Issue 11 §10: a caller's malformed lender BIN or IBAN is the caller's mistake (422 with the field's code),
found before the credit bureau or the bank is asked — never a 502 ``upstream_rejected``."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.test_checks import ARMAN, api, parties, step  # noqa: F401  (fixtures)
from tests.conftest import Api
from tests.methods.factorkit import Parties, calls, open_identification, register

APPLICATION = {"application_id": "APP-9", "amount": 150000, "submitted_at": "2026-11-21T10:00:00+00:00"}


@pytest.mark.parametrize(
    ("lender_bin", "code"),
    [("150140012344", "bad_checksum"), ("000000000001", "bad_checksum"), ("15014001234", "string_pattern_mismatch")],
)
async def test_a_bad_lender_bin_is_a_422_before_the_bureau_is_asked(
    api: Api,  # noqa: F811
    parties: Parties,  # noqa: F811
    lender_bin: str,
    code: str,
) -> None:
    client = await register(api, ARMAN)
    before = await calls(parties.bureau)
    answer = await api.post(f"/v1/clients/{client}/loan-applications", {**APPLICATION, "lender_bin": lender_bin})
    body: dict[str, Any] = await answer.json()
    assert answer.status == 422 and body["code"] == code, body
    assert [e["loc"] for e in body["errors"]] == ["lender_bin"]
    assert await calls(parties.bureau) == before


@pytest.mark.parametrize(
    ("iban", "code"),
    [
        ("KZ18722S000012345679", "bad_checksum"),  # one character off
        ("KZ18722S00001234567", "invalid_format"),  # 19 characters
        ("DE89370400440532013000", "invalid_format"),  # a valid IBAN, but not Kazakh
    ],
)
async def test_a_malformed_iban_is_a_422_before_the_bank_is_asked(
    api: Api,  # noqa: F811
    parties: Parties,  # noqa: F811
    iban: str,
    code: str,
) -> None:
    ident = await open_identification(api, await register(api, ARMAN, identified=True), "payout")
    before = await calls(parties.bank)
    status, body = await step(api, ident, "payout-account", {"iban": iban})
    assert status == 422 and body["code"] == code, body
    assert [e["loc"] for e in body["errors"]] == ["iban"]
    assert await calls(parties.bank) == before
    status, body = await step(api, ident, "payout-account", {"iban": "kz18 722s 0000 1234 5678"})  # spaced, lower
    assert status == 200 or body["code"] == "payout_account_not_owned", body
