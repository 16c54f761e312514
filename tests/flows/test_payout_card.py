"""The payout check by the card on file (issue 15 item 1, R-NB.2): a card given at registration is kept sealed
with the client's other personal data (R-12.2), so a payout identification with no instrument in the request
asks the bank about that card; another person's card is refused; a record from before card numbers were kept
(only the one-way token) is a clear 422. Over HTTP against the bank simulator, SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from authsvc.api.state import DB
from authsvc.cabinet.service import PII
from authsvc.crypto.envelope import RecordCipher, WrappedKey
from authsvc.crypto.local_keys import LocalKeyStore
from authsvc.store.schema import clients
from simulators.population import Person
from tests.api.test_eds_simulator import Simulator
from tests.flows.kit import PEOPLE, SAFE_PHONE, Journey, start_journey
from tests.methods.factorkit import calls

ARMAN, DANA = PEOPLE["arman"], PEOPLE["dana"]


@pytest.fixture
async def journey(
    aiohttp_client: Any, aiohttp_server: Any, dsn: str, keys: LocalKeyStore, simulator: Simulator, tmp_path: Path
) -> Journey:
    return await start_journey(aiohttp_client, aiohttp_server, dsn, keys, simulator, tmp_path, cooling_off=False)


async def _registered_with_card(journey: Journey, person: Person, card: str) -> str:
    client = await journey.register(person, card=card)
    _status, step = await journey.eds(await journey.opened(client, "registration", "res63-2021"), person)
    assert step["identification_status"] == "completed", step
    return client


async def test_a_nb2025_payout_passes_by_the_card_on_file(journey: Journey, keys: LocalKeyStore) -> None:
    card = ARMAN.cards[0].pan
    client = await _registered_with_card(journey, ARMAN, card)
    shown = await (await journey.api.get(f"/v1/clients/{client}")).json()
    assert shown["card"]["last4"] == card[-4:] and card not in str(shown)  # answers show the token only

    # Kept sealed: the row has no number in clear, the sealed record opens to it.
    async with journey.api.app[DB].autocommit() as tx:
        row = (await tx.all(select(clients).where(clients.c.id == client)))[0]
    assert card.encode() not in bytes(row["pii_sealed"]) and card not in str(dict(row))
    record = RecordCipher.open(keys, client, WrappedKey(row["kek_id"], row["data_key"])).unseal_json(
        PII, row["pii_sealed"]
    )
    assert record["card_number"] == card and record["iban"] is None

    ident = await journey.opened(client, "payout", "nb-2025")
    status, step = await journey.step(ident, "payout-account", device=SAFE_PHONE)  # nothing named: the card on file
    assert status == 200 and step["outcome"] == "passed", step
    assert step["details"] == {"kind": "card", "owner_match": True, "status": "active"}, step
    status, step = await journey.sms_code(ident, ARMAN, 1, SAFE_PHONE)
    assert status == 200 and step["identification_status"] == "completed", step


async def test_another_persons_card_on_file_is_refused(journey: Journey) -> None:
    client = await _registered_with_card(journey, ARMAN, DANA.cards[0].pan)  # Dana's card, Arman's IIN
    ident = await journey.opened(client, "payout", "nb-2025")
    status, problem = await journey.step(ident, "payout-account", device=SAFE_PHONE)
    assert status == 422 and problem["code"] == "payout_account_not_owned", problem
    state = await journey.state(ident)
    assert state["status"] == "pending" and [(s["method"], s["outcome"]) for s in state["steps"]] == [
        ("payout_account", "failed")
    ]


async def test_a_card_kept_only_as_its_token_is_a_clear_422(journey: Journey, keys: LocalKeyStore) -> None:
    """A client registered before card numbers were kept: the row has the token, the sealed record no number."""
    card = ARMAN.cards[0].pan
    client = await _registered_with_card(journey, ARMAN, card)
    db = journey.api.app[DB]
    async with db.transaction() as tx:
        row = (await tx.all(select(clients).where(clients.c.id == client)))[0]
        cipher = RecordCipher.open(keys, client, WrappedKey(row["kek_id"], row["data_key"]))
        record = cipher.unseal_json(PII, row["pii_sealed"])
        del record["card_number"]  # the record as the previous version wrote it
        await tx.run(update(clients).where(clients.c.id == client).values(pii_sealed=cipher.seal_json(PII, record)))
    seen = await calls(journey.parties.bank)
    ident = await journey.opened(client, "payout", "nb-2025")
    status, problem = await journey.step(ident, "payout-account", device=SAFE_PHONE)
    assert status == 422 and problem["code"] == "payout_card_not_kept", problem
    assert "card_number" in problem["detail"] and problem["hint"], problem
    assert await calls(journey.parties.bank) == seen  # the bank was not asked
    # The lender names the card instead: the check passes.
    status, step = await journey.step(ident, "payout-account", {"card_number": card}, device=SAFE_PHONE)
    assert status == 200 and step["outcome"] == "passed", step


async def test_a_card_changed_through_change_contact_is_the_one_the_payout_check_asks_about(
    journey: Journey, keys: LocalKeyStore
) -> None:
    """R-6.6 then R-NB.2: the new card replaces the old one in the sealed record, and the payout check by the
    card on file asks the bank about the new card (Dana's card at registration is refused; Arman's own, once
    changed to, passes)."""
    own = ARMAN.cards[0].pan
    client = await _registered_with_card(journey, ARMAN, DANA.cards[0].pan)
    change = await journey.opened(client, "change_contact", "res63-2021")
    _status, step = await journey.eds(change, ARMAN)
    assert step["identification_status"] == "completed", step
    patch = {"identification_id": change, "card": {"number": own}}
    resp = await journey.api.patch(f"/v1/clients/{client}", patch)
    assert resp.status == 200, await resp.text()
    changed = await resp.json()
    assert changed["card"]["last4"] == own[-4:] and own not in str(changed)

    async with journey.api.app[DB].autocommit() as tx:
        row = (await tx.all(select(clients).where(clients.c.id == client)))[0]
    record = RecordCipher.open(keys, client, WrappedKey(row["kek_id"], row["data_key"])).unseal_json(
        PII, row["pii_sealed"]
    )
    assert record["card_number"] == own and own.encode() not in bytes(row["pii_sealed"])

    ident = await journey.opened(client, "payout", "nb-2025")
    status, step = await journey.step(ident, "payout-account", device=SAFE_PHONE)  # nothing named: the card on file
    assert status == 200 and step["outcome"] == "passed", step
    assert step["details"] == {"kind": "card", "owner_match": True, "status": "active"}, step
